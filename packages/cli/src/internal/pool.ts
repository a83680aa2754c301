/**
 * Runs `fn` over `items` with at most `limit` calls in flight; resolves when all have settled.
 * `fn` handles its own failures (the copy gathers them), so one failure does not stop the others.
 */
export async function mapPool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * A value made on first use and shared by every later call (a library imported, a client built, a
 * credential chain asked): loading it at open would cost every repository that never needs it. A
 * failure is forgotten — the next call tries again — unless `keep` says it stays the answer
 * (credentials that are not there do not appear by asking again).
 */
export function lazily<T>(make: () => Promise<T>, keep?: (error: unknown) => boolean): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((error: unknown) => {
      if (!keep?.(error)) made = undefined;
      throw error;
    });
    return made;
  };
}

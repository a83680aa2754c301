/** What a launcher starts and must stop: a `ManagedProcess`, or a server container. */
export interface Instance {
  stop(): Promise<void>;
  restart?(): Promise<void>;
}

/** A launcher's instances, started together, stopped and restarted together. */
export interface Instances<T extends Instance> {
  /** In the order given. */
  instances: T[];
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * Starts a launcher's instances at once (a server over http and another over https, say), then
 * runs `setUp` (a container or bucket to create in each). If a start or the set-up fails, the
 * instances that did start are stopped and the first failure is thrown: the start's as it is, the
 * set-up's through `setUpFailed` when given (to name what was being set up).
 */
export async function startInstances<T extends Instance>(
  starts: ReadonlyArray<() => Promise<T>>,
  setUp?: () => Promise<unknown>,
  setUpFailed?: (error: Error) => Error,
): Promise<Instances<T>> {
  const settled = await Promise.allSettled(starts.map((start) => start()));
  const instances = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => void (await Promise.all(instances.map((i) => i.stop())));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  try {
    await setUp?.();
  } catch (error) {
    await stop();
    throw setUpFailed ? setUpFailed(error as Error) : error;
  }
  return {
    instances,
    stop,
    restart: async () => void (await Promise.all(instances.map((i) => i.restart?.()))),
  };
}

/** Starts a `ManagedProcess`-like instance and resolves with it (for `startInstances`). */
export const started =
  <T extends { start(): Promise<void> }>(instance: T) =>
  async (): Promise<T> => {
    await instance.start();
    return instance;
  };

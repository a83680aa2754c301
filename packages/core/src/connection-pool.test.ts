import { describe, expect, it } from 'vitest';
import { type ConnectionFactory, ConnectionPool } from './connection-pool.js';
import { ArtifactsError } from './errors.js';

interface FakeConnection {
  id: number;
  alive: boolean;
  onDeath?: () => void;
}

/** A factory whose connections are plain objects: the pool's bookkeeping is what is under test. */
function factory(options: { failCreate?: () => unknown; createDelayMs?: number } = {}) {
  const made: FakeConnection[] = [];
  const destroyed: number[] = [];
  const f: ConnectionFactory<FakeConnection> = {
    async create(signal) {
      if (options.createDelayMs) await new Promise((r) => setTimeout(r, options.createDelayMs));
      signal?.throwIfAborted();
      const failure = options.failCreate?.();
      if (failure) throw failure;
      const connection = { id: made.length + 1, alive: true };
      made.push(connection);
      return connection;
    },
    destroy(connection) {
      connection.alive = false;
      destroyed.push(connection.id);
    },
    watch(connection, onDeath) {
      connection.onDeath = onDeath;
    },
    isConnectionError(error) {
      return (error as { code?: string }).code === 'ECONNRESET';
    },
  };
  return { f, made, destroyed };
}

const reset = () => Object.assign(new Error('reset'), { code: 'ECONNRESET' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pool(f: ConnectionFactory<FakeConnection>, max = 2, perConnection = 1, idleTimeoutMs = 0) {
  return new ConnectionPool(f, {
    maxConnections: max,
    operationsPerConnection: perConnection,
    idleTimeoutMs,
    label: 'test://server',
  });
}

describe('ConnectionPool', () => {
  it('opens nothing until an operation needs a connection, then reuses it', async () => {
    const { f, made } = factory();
    const p = pool(f);
    expect(made).toHaveLength(0);
    const first = await p.use(async (c) => c.id);
    const second = await p.use(async (c) => c.id);
    expect([first, second]).toEqual([1, 1]);
    expect(made).toHaveLength(1);
  });

  it('never opens more than maxConnections; operations beyond wait and all complete', async () => {
    const { f, made } = factory({ createDelayMs: 5 });
    const p = pool(f, 2);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        p.use(async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(2);
          running--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(made).toHaveLength(2);
    expect(peak).toBe(2);
    expect(p.peakConnections).toBe(2);
  });

  it('shares a connection between up to operationsPerConnection operations once the pool is full', async () => {
    const { f, made } = factory();
    const p = pool(f, 2, 3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        p.use(async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(5);
          running--;
        }),
      ),
    );
    expect(made).toHaveLength(2);
    expect(peak).toBe(6);
  });

  it('retries once on a fresh connection after a connection-level failure and drops the broken one', async () => {
    const { f, made, destroyed } = factory();
    const p = pool(f, 2);
    await p.use(async () => undefined);
    let calls = 0;
    const used: number[] = [];
    const result = await p.use(async (c) => {
      used.push(c.id);
      if (calls++ === 0) throw reset();
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(used).toEqual([1, 2]);
    expect(destroyed).toEqual([1]);
    expect(made).toHaveLength(2);
  });

  it('retries only once', async () => {
    const { f } = factory();
    const p = pool(f, 2);
    let calls = 0;
    await expect(
      p.use(async () => {
        calls++;
        throw reset();
      }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(calls).toBe(2);
  });

  it('does not retry when the caller says the operation cannot be replayed', async () => {
    const { f } = factory();
    const p = pool(f, 2);
    let calls = 0;
    await expect(
      p.use(
        async () => {
          calls++;
          throw reset();
        },
        { retry: () => false },
      ),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(calls).toBe(1);
  });

  it('does not retry ordinary failures and keeps the connection', async () => {
    const { f, destroyed } = factory();
    const p = pool(f, 2);
    let calls = 0;
    await expect(
      p.use(async () => {
        calls++;
        throw new Error('no such file');
      }),
    ).rejects.toThrow('no such file');
    expect(calls).toBe(1);
    expect(destroyed).toEqual([]);
    expect(await p.use(async (c) => c.id)).toBe(1);
  });

  it('forgets a connection that died while idle', async () => {
    const { f, made } = factory();
    const p = pool(f, 1);
    await p.use(async () => undefined);
    made[0]!.onDeath!();
    expect(await p.use(async (c) => c.id)).toBe(2);
  });

  it('lets a waiting operation be aborted without taking a slot', async () => {
    const { f } = factory();
    const p = pool(f, 1);
    let release!: () => void;
    const busy = p.use(() => new Promise<void>((r) => (release = r)));
    await sleep(1);
    const controller = new AbortController();
    const waiting = p.use(async () => 'never', { signal: controller.signal });
    controller.abort(new DOMException('stop', 'AbortError'));
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    release();
    await busy;
    expect(await p.use(async () => 'next')).toBe('next');
  });

  it('passes a connect failure to the waiting operation without retrying it', async () => {
    let attempts = 0;
    const { f } = factory({
      failCreate: () => {
        attempts++;
        return new ArtifactsError('unauthenticated', 'denied');
      },
    });
    const p = pool(f, 2);
    await expect(p.use(async () => undefined)).rejects.toMatchObject({ code: 'unauthenticated' });
    expect(attempts).toBe(1);
    expect(p.size).toBe(0);
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const { f, destroyed } = factory();
    const p = pool(f, 2, 1, 20);
    await p.use(async () => undefined);
    await sleep(60);
    expect(destroyed).toEqual([1]);
    expect(p.size).toBe(0);
  });

  it('close() closes every connection and fails waiting and later operations', async () => {
    const { f, destroyed } = factory();
    const p = pool(f, 1);
    let release!: () => void;
    const busy = p.use(() => new Promise<void>((r) => (release = r)));
    await sleep(1);
    const waiting = p.use(async () => undefined);
    await p.close();
    await expect(waiting).rejects.toMatchObject({ code: 'failed_precondition' });
    await expect(p.use(async () => undefined)).rejects.toMatchObject({ code: 'failed_precondition' });
    expect(destroyed).toEqual([1]);
    release();
    await busy;
  });

  it('close() aborts a connection still being opened, and its operation fails', async () => {
    let opening: AbortSignal | undefined;
    const f: ConnectionFactory<FakeConnection> = {
      ...factory().f,
      // Opens only when aborted (a server silent in the handshake).
      create: (signal) =>
        new Promise((_, reject) => {
          opening = signal;
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    };
    const p = pool(f, 1);
    const operation = p.use(async () => undefined);
    await sleep(1);
    expect(opening?.aborted).toBe(false);
    await p.close();
    expect(opening?.aborted).toBe(true);
    await expect(operation).rejects.toMatchObject({ code: 'failed_precondition' });
  });
});

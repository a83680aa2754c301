import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type ConnectionFactory, ConnectionLife, ConnectionPool } from './connection-pool.js';
import { ArtifactsError } from './errors.js';

interface Conn {
  id: number;
  life: ConnectionLife;
}

const full = () => new ArtifactsError('unavailable', '421 2 users (the maximum) are already logged in');

/** A server that serves `capacity` connections at once and refuses any more (as pure-ftpd's `421`). */
function server(capacity: number, options: { refusal?: () => Error; refusedMore?: boolean } = {}) {
  let open = 0;
  let made = 0;
  let refused = 0;
  const f: ConnectionFactory<Conn> = {
    async create() {
      await sleep(1);
      if (open >= capacity) {
        refused++;
        throw (options.refusal ?? full)();
      }
      open++;
      return { id: ++made, life: new ConnectionLife() };
    },
    destroy() {
      open--;
    },
    life: (c) => c.life,
    isConnectionError: () => false,
    ...(options.refusedMore === false ? {} : { refusedMore: (error) => /421/.test(String(error)) }),
  };
  return { f, refused: () => refused, open: () => open };
}

function pool(f: ConnectionFactory<Conn>, maxConnections: number) {
  return new ConnectionPool(f, {
    maxConnections,
    operationsPerConnection: 1,
    idleTimeoutMs: 0,
    label: 'test://s',
  });
}

/** `n` operations at once, each holding its connection for a few ms. */
const work = (p: ConnectionPool<Conn>, n: number) =>
  Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      p.use(async (c) => {
        await sleep(3);
        return `${i}@${c.id}`;
      }),
    ),
  );

describe('ConnectionPool when the server refuses one more connection', () => {
  it('goes on with the connections it has: every operation completes, the pool stops asking for more', async () => {
    const s = server(3);
    const p = pool(s.f, 32);
    const results = await work(p, 40);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(p.peakConnections).toBe(3);
    expect(p.limit).toBe(3);
    const refusedAtFirst = s.refused();
    expect(refusedAtFirst).toBeGreaterThan(0);
    // The limit holds: later operations do not knock again.
    expect((await work(p, 20)).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(s.refused()).toBe(refusedAtFirst);
    expect(p.options.maxConnections).toBe(32);
    await p.close();
    expect(s.open()).toBe(0);
  });

  it('fails the operation when the server refuses even the first connection', async () => {
    const p = pool(server(0).f, 4);
    const results = await work(p, 3);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ message: /421/ });
    await p.close();
  });

  it('a connect failure the factory does not call a refusal of one more fails its operation as before', async () => {
    const s = server(2, { refusal: () => new ArtifactsError('unauthenticated', '530 login incorrect') });
    const p = pool(s.f, 4);
    const results = await work(p, 8);
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    expect(p.limit).toBe(4);
    await p.close();
  });

  it('without refusedMore a refused connection still fails its operation (the factory decides)', async () => {
    const p = pool(server(2, { refusedMore: false }).f, 4);
    const results = await work(p, 8);
    expect(results.filter((r) => r.status === 'rejected').length).toBeGreaterThan(0);
    await p.close();
  });

  it('an operation waiting on its own connect takes a connection that comes free meanwhile', async () => {
    const connects: Array<{ resolve: (c: Conn) => void; reject: (e: unknown) => void }> = [];
    let made = 0;
    const f: ConnectionFactory<Conn> = {
      create: () => new Promise<Conn>((resolve, reject) => connects.push({ resolve, reject })),
      destroy() {},
      life: (c) => c.life,
      isConnectionError: () => false,
    };
    const p = pool(f, 2);
    const first = p.use(async (c) => c.id);
    connects[0]!.resolve({ id: ++made, life: new ConnectionLife() });
    expect(await first).toBe(1);
    let release!: () => void;
    const holding = p.use((c) => new Promise<number>((r) => (release = () => r(c.id))));
    await sleep(1);
    // The pool is busy: a second connection is being opened for this one, and does not answer.
    const waiting = p.use(async (c) => c.id);
    await sleep(1);
    expect(connects).toHaveLength(2);
    release();
    expect(await holding).toBe(1);
    expect(await waiting).toBe(1);
    // The connect that answers late joins the pool, idle.
    connects[1]!.resolve({ id: ++made, life: new ConnectionLife() });
    await sleep(1);
    expect(p.size).toBe(2);
    await p.close();
  });
});

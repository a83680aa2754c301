import {
  type ArtifactRepository,
  ArtifactsError,
  openRepository,
  type RetryEvent,
  registerBackend,
} from '@artifacts/core';
import { afterEach, describe, expect, it } from 'vitest';
import { dataBytes, readAll } from './data.js';
import { type Fault, type FaultyDriver, withFaults } from './fault-driver.js';
import { MemoryDriver } from './memory-driver.js';

let current: FaultyDriver;
let faults: Fault[] = [];
const store = new MemoryDriver();
registerBackend({
  name: 'faulty memory',
  schemes: ['faulty'],
  open: () => {
    current = withFaults(store, faults);
    return current;
  },
});

let repo: ArtifactRepository | undefined;
afterEach(async () => {
  await repo?.close();
  store.objects.clear();
});

async function open(injected: Fault[], options: Record<string, unknown> = {}): Promise<ArtifactRepository> {
  faults = injected;
  repo = await openRepository('faulty://store/root', options);
  return repo;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (ArtifactsError.is(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

describe('core layers, driven through the fault-injecting driver', () => {
  it('retries a temporary failure of an idempotent call and reports it', async () => {
    const retries: RetryEvent[] = [];
    const r = await open([{ operation: 'stat', kind: 'temporary', times: 2 }], {
      onRetry: (event: RetryEvent) => retries.push(event),
    });
    store.objects.set('a.txt', Buffer.from('a'));
    expect((await r.stat('a.txt')).fileSize).toBe(1);
    expect(current.calls.stat).toBe(3);
    expect(retries.map((event) => event.attempt)).toEqual([1, 2]);
  });

  it('retries a reset connection, but never a permanent failure', async () => {
    const r = await open([
      { operation: 'delete', kind: 'reset' },
      { operation: 'stat', kind: 'fail', error: ArtifactsError.invalidArgument('bad') },
    ]);
    await r.deleteArtifacts('x');
    expect(current.calls.delete).toBe(2);
    expect(await codeOf(r.stat('x'))).toBe('invalid_argument');
    expect(current.calls.stat).toBe(1);
  });

  it('gives up after maxRetries', async () => {
    const r = await open([{ operation: 'stat', kind: 'temporary', times: Number.POSITIVE_INFINITY }], {
      maxRetries: 2,
    });
    expect(await codeOf(r.stat('x'))).toBe('unavailable');
    expect(current.calls.stat).toBe(3);
  });

  it('fails a read stream that stalls with timeout, within the timeout', async () => {
    const r = await open([{ operation: 'read', kind: 'stall', afterBytes: 1000 }], { timeoutMs: 300 });
    store.objects.set('big.bin', dataBytes(100_000));
    const started = Date.now();
    expect(await codeOf(r.openRead('big.bin').then(readAll))).toBe('timeout');
    // Without the stall timer the stream would hang forever, and every default timeout is ≥ 60 s: the
    // bound proves the 300 ms setting fired, with room for a loaded machine's late timers.
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);

  it('fails a download cut mid-way and leaves no file behind', async () => {
    const r = await open([{ operation: 'read', kind: 'cut', afterBytes: 5000 }]);
    store.objects.set('cut.bin', dataBytes(100_000));
    const { mkdtemp, readdir } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dst = await mkdtemp(join(tmpdir(), 'testkit-cut-'));
    expect(await codeOf(r.downloadArtifacts('cut.bin', dst))).toBe('unavailable');
    expect(await readdir(dst)).toEqual([]);
  });

  it('a stalled metadata call fails with timeout', async () => {
    const r = await open([{ operation: 'stat', kind: 'stall' }], { timeoutMs: 200 });
    expect(await codeOf(r.stat('x'))).toBe('timeout');
  });

  it('resends an upload whose body the store never read', async () => {
    const r = await open([{ operation: 'write', kind: 'temporary' }]);
    await r.write('w.txt', 'payload');
    expect(current.calls.write).toBe(2);
    expect(store.objects.get('w.txt')?.toString()).toBe('payload');
  });

  it('never resends an upload cut after the store read part of it', async () => {
    const r = await open([{ operation: 'write', kind: 'cut', afterBytes: 10 }]);
    expect(await codeOf(r.write('w.bin', dataBytes(100_000)))).toBe('unavailable');
    expect(current.calls.write).toBe(1);
    expect(store.objects.has('w.bin')).toBe(false);
  });
});

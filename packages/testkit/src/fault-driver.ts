import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type DriverEntry,
  type DriverReadResult,
  type StorageDriver,
  wrapDriver,
} from '@artifacts/core';

/** Driver members a fault can hit. */
export type FaultOperation = 'write' | 'read' | 'stat' | 'list' | 'delete' | 'copy' | 'mkdir';

/**
 * One injected fault:
 * - `fail`: the call throws `error` (default: a permanent `internal` ArtifactsError);
 * - `temporary`: the call throws a temporary `unavailable` ArtifactsError (what a 503 maps to);
 * - `reset`: the call throws a reset connection (`ECONNRESET`), as a socket dying under it;
 * - `stall`: a read's stream (or a write's consumption of its body) stops after `afterBytes` and
 *   waits until the call's signal aborts; any other call never answers until then;
 * - `cut`: a read's stream fails with `ECONNRESET` after `afterBytes` (a connection cut mid-way).
 */
export interface Fault {
  operation: FaultOperation;
  kind: 'fail' | 'temporary' | 'reset' | 'stall' | 'cut';
  /** The call of that operation to hit, from 1. Default 1. */
  nth?: number;
  /** How many consecutive calls from `nth` on to hit. Default 1; `Infinity` for all. */
  times?: number;
  /** For `stall` and `cut`: bytes delivered (or consumed) first. Default 0. */
  afterBytes?: number;
  /** For `fail`. */
  error?: unknown;
}

/** A driver with faults injected, and the count of calls each operation received. */
export interface FaultyDriver extends StorageDriver {
  readonly calls: Record<FaultOperation, number>;
}

function resetError(): Error {
  return Object.assign(new Error('read ECONNRESET (injected by @artifacts/testkit)'), { code: 'ECONNRESET' });
}

function faultError(fault: Fault): unknown {
  switch (fault.kind) {
    case 'temporary':
      return new ArtifactsError('unavailable', 'injected temporary failure (503)', { temporary: true });
    case 'reset':
      return resetError();
    default:
      return fault.error ?? new ArtifactsError('internal', 'injected failure');
  }
}

function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** A stream that passes `afterBytes` of `source`, then stalls (or, with `cut`, fails). */
function faultyStream(source: Readable, fault: Fault, signal: AbortSignal | undefined): Readable {
  const limit = fault.afterBytes ?? 0;
  let passed = 0;
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const raw of source) {
      const chunk = raw as Buffer;
      const room = limit - passed;
      if (room > 0) {
        const part = chunk.subarray(0, room);
        passed += part.length;
        yield part;
        if (part.length === chunk.length) continue;
      }
      break;
    }
    source.destroy();
    if (fault.kind === 'cut') throw resetError();
    await untilAborted(signal);
  }
  return Readable.from(generate(), { objectMode: false });
}

/**
 * Wraps any driver so that chosen calls fail, stall or break mid-stream (flystorage's chaos
 * adapter): every backend's retry and timeout paths can then be tested the same way, with the real
 * driver doing everything else.
 */
export function withFaults(driver: StorageDriver, faults: readonly Fault[]): FaultyDriver {
  const calls: Record<FaultOperation, number> = {
    write: 0,
    read: 0,
    stat: 0,
    list: 0,
    delete: 0,
    copy: 0,
    mkdir: 0,
  };
  const hit = (operation: FaultOperation): Fault | undefined => {
    const n = ++calls[operation];
    return faults.find((fault) => {
      const first = fault.nth ?? 1;
      return fault.operation === operation && n >= first && n < first + (fault.times ?? 1);
    });
  };
  async function simple<T>(
    operation: FaultOperation,
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
  ) {
    const fault = hit(operation);
    if (fault?.kind === 'stall') return untilAborted(signal);
    if (fault) throw faultError(fault);
    return call();
  }
  const wrapped = wrapDriver(driver, {
    stat: (key, o) => simple('stat', o.signal, () => driver.stat(key, o)),
    delete: (key, o) => simple('delete', o.signal, () => driver.delete(key, o)),
    copy: driver.copy && ((from, to, o) => simple('copy', o.signal, () => driver.copy!(from, to, o))),
    mkdir: driver.mkdir && ((key, o) => simple('mkdir', o.signal, () => driver.mkdir!(key, o))),
    async read(key, o): Promise<DriverReadResult> {
      const fault = hit('read');
      if (fault && fault.kind !== 'stall' && fault.kind !== 'cut') throw faultError(fault);
      const result = await driver.read(key, o);
      return fault ? { ...result, stream: faultyStream(result.stream, fault, o.signal) } : result;
    },
    async write(key, body, o) {
      const fault = hit('write');
      if (!fault) return driver.write(key, body, o);
      if (fault.kind !== 'stall' && fault.kind !== 'cut') throw faultError(fault);
      const limited = faultyStream(body, fault, o.signal);
      return driver.write(key, limited, o);
    },
    list(prefix, o) {
      const fault = hit('list');
      if (!fault) return driver.list(prefix, o);
      return {
        [Symbol.asyncIterator]: () => ({
          async next(): Promise<IteratorResult<DriverEntry>> {
            if (fault.kind === 'stall') await untilAborted(o.signal);
            throw faultError(fault);
          },
        }),
      };
    },
  });
  return Object.assign(wrapped, { calls });
}

import { close, constants, open as openFile, read, write, writev } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { finished, Readable, Transform, type TransformCallback } from 'node:stream';
import { type ByteRange, type Checksum, type DriverReadResult, RELEASE_CHUNK } from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { TAKE_BODY, type TakeBody } from '../http-client.js';
import { crc32, crc32c, crcCombine, createHasher, type Hasher } from '../internal/checksum.js';
import { defaultRequestRetry, type RequestRetry } from '../layers/retry.js';
import { linkedAbort, type RequestContext, type RequestPolicy, runRequest } from './request-watch.js';

/** Bytes [start, end] of an object, `end` inclusive (`end = start - 1`: none). */
export interface ServedRange {
  start: number;
  end: number;
}

/** One ranged request of a read: the bytes wanted, and the version they must belong to. */
export interface RangeRequest extends RequestContext {
  /** First byte wanted. */
  start: number;
  /** Last byte wanted, inclusive. */
  end: number;
  /**
   * The first request of a read of a whole object: the source may answer with the whole object (one
   * GET that also carries the object's checksum, which a ranged answer lacks) and say so with
   * `rangesHonoured: true`; the engine then takes what it needs of it and asks for the rest.
   */
  whole: boolean;
  /**
   * The version the bytes must belong to (an ETag, a generation), from the first answer; undefined
   * for the first request. Send it as a condition (If-Match, `generation=`): an object replaced
   * mid-read must fail, never mix two versions.
   */
  pin: string | undefined;
}

/** What a store answered to a `RangeRequest`. */
export interface RangeResponse {
  stream: Readable;
  /**
   * The bytes the stream holds, as the store actually served them: a store that ignored the Range
   * header served the whole object (`{ start: 0, end: totalSize - 1 }`).
   */
  served: ServedRange;
  /** The size of the whole object; undefined when the store did not say (read to its end, unchecked). */
  totalSize: number | undefined;
  /** The version these bytes belong to (ETag, generation, version id), when the store says. */
  pin?: string | undefined;
  /** When that version was written, when the store says (the first answer's is reported). */
  lastModified?: Date | undefined;
  /**
   * Later requests for other ranges will be served as asked. Default: the store served no more than
   * asked. A store that answered a Range with the whole object does not honour ranges: the engine
   * reads everything from that one answer.
   */
  rangesHonoured?: boolean;
  /** Checksum of the whole object, when the store gives it. */
  checksum?: Checksum | undefined;
  contentType?: string | undefined;
  /**
   * @deprecated Ignored: a chunk that can be freed once written carries core's `RELEASE_CHUNK`
   * (every body chunk of core's `HttpPool` does), which `rangedReadToFile` calls.
   */
  ownChunks?: boolean | undefined;
}

/** What a store plugs into the engine: one ranged GET. */
export interface RangeSource {
  readRange(request: RangeRequest): Promise<RangeResponse>;
}

export interface RangedReadOptions {
  /** The bytes to read; default the whole object. */
  range?: ByteRange | undefined;
  /** Bytes per ranged request. */
  partSize: number;
  /** Ranged requests in flight at once; memory stays within `concurrency × partSize`. */
  concurrency: number;
  /** Reads smaller than this that one answer already holds are not split. Default: 2 parts. */
  parallelThreshold?: number | undefined;
  /** Bound on each stall of each request, ms; undefined or ≤ 0 = none. */
  timeoutMs?: number | undefined;
  /**
   * The repository's retry policy for each range (`DriverReadOptions.retry`, set by core's retry
   * layer): the same attempts, backoff, jitter, `Retry-After` and budget as every other call.
   */
  retry?: RequestRetry | undefined;
  /** Without `retry` (a driver used on its own): attempts per range, the first included. Default 4. */
  maxAttempts?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called whenever bytes move. */
  onActivity?: (() => void) | undefined;
  /** Names the read in errors. */
  what: string;
}

export interface RangedReadResult extends DriverReadResult {
  /** The bytes the stream holds (the range asked for, clamped to the object); unknown when the store gave no size. */
  served?: ServedRange;
}

export interface RangedFileResult {
  size: number;
  totalSize: number | undefined;
  /** The whole object's checksum the store gave, already verified against the bytes written. */
  checksum?: Checksum;
  contentType?: string;
}

/** A whole-object checksum that the received bytes do not match. */
function checksumMismatch(what: string, checksum: Checksum, actual: string): ArtifactsError {
  return new ArtifactsError(
    'integrity',
    `${what}: ${checksum.algorithm} checksum mismatch (store says ${checksum.value}, received bytes hash to ${actual})`,
  );
}

/** What a download into a file read, its checksum already verified. */
function fileResult(
  size: number,
  totalSize: number | undefined,
  checksum: Checksum | undefined,
  contentType: string | undefined,
): RangedFileResult {
  return { size, totalSize, ...(checksum ? { checksum } : {}), ...(contentType ? { contentType } : {}) };
}

interface Part {
  start: number;
  end: number;
  received: number;
  /** The store did not say how long the object is: the part ends where the answer does. */
  open?: boolean;
}

/** The first answer, and the plan it allows. */
interface Plan {
  first: RangeResponse;
  total: number | undefined;
  /** What the read delivers. */
  span: ServedRange;
  parts: Part[];
  pin: string | undefined;
}

/** Bytes a part read ahead of the consumer may hold (stream output). */
const AHEAD_BYTES = 8 * 1024 * 1024;
/**
 * Bytes a download's parts may hold in gathered chunks and writes in flight, together: each part
 * gathers its received chunks (socket reads, 16–64 KiB) into one positional `writev` of
 * `writeSize` bytes, sized so that `concurrency` parts, each gathering one and with up to
 * `WRITES_PER_PART` writes in flight, stay within this. Writing every chunk on its own cost a
 * syscall, a promise and a libuv request per 16–64 KiB; a part never waits for its own write unless
 * the download's writes are all in flight (waiting turned every chunk into a pause of the socket).
 * Larger writes were measured and lose (S3, 256 MiB, 4–5 interleaved runs each: 1 MiB writes +8 %
 * CPU, 4 MiB +25 % CPU and 123 MiB peak RSS, synchronous `writevSync` −10 % CPU but a slower wall
 * time; 64 KiB +40 %): the chunks are written while the parser's copy of them is still in the CPU's
 * cache, and the bytes held until written grow with the write size.
 */
const WRITE_BUDGET = 4 * 1024 * 1024;
const WRITES_PER_PART = 2;
const MAX_WRITE = 256 * 1024;
const MIN_WRITE = 64 * 1024;

/** Bytes gathered per file write when the caller names none: the budget shared by the parts. */
export function writeSizeFor(concurrency: number): number {
  const share = Math.floor(WRITE_BUDGET / ((1 + WRITES_PER_PART) * Math.max(1, concurrency)));
  return Math.max(MIN_WRITE, Math.min(MAX_WRITE, share));
}

/** Stops reading an answer; a late error of it (the client's abort) must not go unhandled. */
function discard(stream: Readable): void {
  stream.on('error', () => undefined);
  if (!stream.destroyed) stream.destroy();
}

const changedError = (what: string, detail: string) =>
  new ArtifactsError(
    'failed_precondition',
    `${what}: the object changed while it was being read (${detail}); nothing of the mixed bytes was kept`,
  );

function policyOf(options: RangedReadOptions): RequestPolicy {
  return {
    timeoutMs: options.timeoutMs !== undefined && options.timeoutMs > 0 ? options.timeoutMs : undefined,
    retry: options.retry ?? defaultRequestRetry(options.maxAttempts ?? 4, 'read', options.what),
    onActivity: options.onActivity,
  };
}

/** A store's "range not satisfiable" (HTTP 416), as a driver reported it. */
function isUnsatisfiable(error: unknown): boolean {
  const status = ArtifactsError.is(error) ? error.context.status : undefined;
  return status === 416 || status === '416';
}

/** Sends the first request and plans the parts from what the store answered. */
async function plan(
  source: RangeSource,
  options: RangedReadOptions,
  signal: AbortSignal,
  policy: RequestPolicy,
): Promise<Plan> {
  const start = options.range?.start ?? 0;
  const wantedEnd = options.range?.end;
  const partSize = Math.max(1, options.partSize);
  const firstEnd = Math.min(wantedEnd ?? Number.MAX_SAFE_INTEGER, start + partSize - 1);
  const ask = (from: number, to: number) =>
    runRequest(options.what, signal, policy, (context) =>
      source.readRange({
        ...context,
        start: from,
        end: to,
        whole: options.range === undefined,
        pin: undefined,
      }),
    );
  let first: RangeResponse;
  try {
    first = await ask(start, firstEnd);
  } catch (error) {
    // A range that starts past the end is unsatisfiable (416) to an HTTP store; as a file read past
    // its end, it reads nothing: the object's first byte tells its size (and that it is still there).
    if (start === 0 || !isUnsatisfiable(error)) throw error;
    first = await ask(0, 0);
    if ((first.totalSize ?? 0) > start) {
      discard(first.stream);
      throw error;
    }
  }
  first.stream.on('error', () => undefined);
  const total = first.totalSize;
  if (total === undefined) {
    // Nothing to plan with: everything comes from this one answer, to its end.
    const last = wantedEnd ?? Number.MAX_SAFE_INTEGER;
    return {
      first,
      total,
      span: { start, end: last },
      parts: [{ start, end: last, received: 0, open: true }],
      pin: first.pin,
    };
  }
  const end = Math.min(wantedEnd ?? total - 1, total - 1);
  const span = { start, end: Math.max(start - 1, end) };
  const size = span.end - span.start + 1;
  const { served } = first;
  if (size > 0 && (served.start > start || served.end < start)) {
    discard(first.stream);
    throw new ArtifactsError(
      'internal',
      `${options.what}: asked for bytes from ${start}, the store served ${served.start}-${served.end}`,
    );
  }
  const honoured = first.rangesHonoured ?? served.end <= firstEnd;
  const threshold = options.parallelThreshold ?? 2 * partSize;
  const parts: Part[] = [];
  if (size > 0) {
    // One answer holds everything: a small object, or a store that ignores ranges.
    const single = served.end >= end && (!honoured || size < threshold || options.concurrency <= 1);
    const firstPartEnd = single ? end : Math.min(end, served.end, start + partSize - 1);
    parts.push({ start, end: firstPartEnd, received: 0 });
    if (!single && !honoured) {
      discard(first.stream);
      throw new ArtifactsError(
        'internal',
        `${options.what}: the store served bytes ${served.start}-${served.end} of ${total} and ignores ranges`,
      );
    }
    for (let from = firstPartEnd + 1; from <= end; from += partSize) {
      parts.push({ start: from, end: Math.min(end, from + partSize - 1), received: 0 });
    }
  } else {
    discard(first.stream);
  }
  return { first, total, span, parts, pin: first.pin };
}

/**
 * Reads one part, from `opened` (the first answer) or a new pinned request, handing its bytes to
 * `sink` in order with their offsets. A temporary failure is retried by runRequest from the first
 * byte not yet received (only this part); a stall fails with `timeout`.
 */
function readPart(
  source: RangeSource,
  plan: Plan,
  part: Part,
  opened: RangeResponse | undefined,
  sink: (chunk: Buffer, offset: number, touch: () => void) => Promise<void> | undefined,
  options: RangedReadOptions,
  signal: AbortSignal,
  policy: RequestPolicy,
): Promise<void> {
  const length = part.end - part.start + 1;
  const what = `${options.what}: bytes ${part.start}-${part.end}`;
  const named = { number: plan.parts.indexOf(part) + 1, start: part.start, end: part.end };
  return runRequest(
    what,
    signal,
    policy,
    async (context) => {
      const from = part.start + part.received;
      let response: RangeResponse;
      if (opened) {
        response = opened;
        opened = undefined;
      } else {
        response = await source.readRange({
          ...context,
          start: from,
          end: part.end,
          whole: false,
          pin: plan.pin,
        });
        check(response, from, plan, options.what);
      }
      const { stream } = response;
      // Errors while it is read reach the loop below; one after (a client's late abort of an answer
      // already read, or left) must not go unhandled.
      stream.on('error', () => undefined);
      const onAbort = () => stream.destroy(context.signal.reason as Error);
      if (context.signal.aborted) onAbort();
      context.signal.addEventListener('abort', onAbort, { once: true });
      try {
        // Bytes the store sent before the ones wanted (it served more than asked).
        let skip = from - response.served.start;
        await eachChunk(stream, (raw) => {
          context.touch();
          let chunk = raw;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
          }
          const need = length - part.received;
          const cut = chunk.length > need;
          if (cut) chunk = chunk.subarray(0, need);
          let taken: Promise<void> | undefined;
          if (chunk.length > 0) {
            const offset = part.start + part.received;
            part.received += chunk.length;
            taken = sink(chunk, offset, context.touch);
          }
          // The rest of this answer is not needed (it served more): stop reading it.
          if (!cut) return taken;
          return taken ? taken.then(() => STOP) : STOP;
        });
      } finally {
        context.signal.removeEventListener('abort', onAbort);
        if (!stream.readableEnded) discard(stream);
        else stream.on('error', () => undefined);
      }
      if (part.open && part.received < length) {
        part.end = part.start + part.received - 1;
        return;
      }
      if (part.received !== length) {
        throw new ArtifactsError(
          'unavailable',
          `${what}: the store sent ${part.received} of ${length} bytes and closed the response`,
          { temporary: true },
        );
      }
    },
    named,
  );
}

const STOP = Symbol('stop');

/**
 * Hands each chunk of `stream` to `take` as the stream emits it (flowing mode): no chunk is joined
 * into a new buffer (an async iterator's `read()` concatenates whatever is buffered) and no promise
 * is made per chunk; the stream is paused only while a promise `take` returned is pending, so the
 * socket keeps being read while the consumer keeps up. `take` returning (or resolving to) STOP ends
 * the reading there. Settles as `for await` would: at the end, or with the stream's error (a
 * premature close included), once `take`'s pending promise has settled.
 */
function eachChunk(
  stream: Readable,
  take: (chunk: Buffer) => typeof STOP | Promise<unknown> | undefined,
): Promise<void> {
  const direct = (stream as Readable & { [TAKE_BODY]?: TakeBody })[TAKE_BODY];
  if (typeof direct === 'function') return eachChunkTaken(stream, direct, take);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let pending: Promise<unknown> | undefined;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      stream.pause();
      stopWatching();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      let result: ReturnType<typeof take>;
      try {
        result = take(chunk);
      } catch (error) {
        settle(error);
        return;
      }
      if (result === STOP) {
        stream.pause();
        settle();
      } else if (result) {
        stream.pause();
        pending = result.then(
          (next) => {
            pending = undefined;
            if (next === STOP) settle();
            else if (!settled) stream.resume();
          },
          (error: unknown) => {
            pending = undefined;
            settle(error);
          },
        );
      }
    };
    const stopWatching = finished(stream, (error) => {
      const outcome = error ?? undefined;
      if (pending) void pending.then(() => settle(outcome));
      else settle(outcome);
    });
    stream.on('data', onData);
    stream.resume();
  });
}

/**
 * `eachChunk` for an answer of core's `HttpPool`: its chunks are taken from the HTTP parser one call
 * each (`TAKE_BODY`), past the stream's buffer and `data` events; the socket's reads stop while a
 * promise `take` returned is pending (a chunk the parser still had meanwhile waits in `queue`). The
 * end and errors are the stream's, as for `eachChunk`.
 */
function eachChunkTaken(
  stream: Readable,
  direct: TakeBody,
  take: (chunk: Buffer) => typeof STOP | Promise<unknown> | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let pending: Promise<unknown> | undefined;
    /** The stream ended or failed; settled once `take`'s pending promise has (as `eachChunk`). */
    let ended: { error: unknown } | undefined;
    const queue: Buffer[] = [];
    let control: ReturnType<TakeBody> | undefined;
    let stopWatching: (() => void) | undefined;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      queue.length = 0;
      control?.detach();
      stopWatching?.();
      if (error === undefined) resolve();
      else reject(error);
    };
    /** Hands `chunk` to `take`; false while a promise it returned is pending (or it stopped). */
    const pass = (chunk: Buffer): boolean => {
      let result: ReturnType<typeof take>;
      try {
        result = take(chunk);
      } catch (error) {
        settle(error);
        return false;
      }
      if (result === STOP) {
        settle();
        return false;
      }
      if (!result) return true;
      pending = result.then(
        (next) => {
          pending = undefined;
          if (next === STOP) settle();
          else flush();
        },
        (error: unknown) => {
          pending = undefined;
          settle(error);
        },
      );
      return false;
    };
    /** Takes what waited in `queue`; then settles if the stream is done, else reads on. */
    const flush = () => {
      while (queue.length > 0 && !settled && !pending) pass(queue.shift()!);
      if (settled || pending) return;
      if (ended) settle(ended.error);
      else control?.resume();
    };
    const onChunk = (chunk: Buffer): boolean => {
      if (settled) return false;
      if (pending || queue.length > 0) {
        queue.push(chunk);
        return false;
      }
      return pass(chunk);
    };
    control = direct.call(stream, onChunk);
    if (settled) {
      control.detach();
      return;
    }
    stopWatching = finished(stream, (error) => {
      ended = { error: error ?? undefined };
      // A failed answer's unread chunks are not kept: the retry asks again from the first byte missing.
      if (ended.error !== undefined) queue.length = 0;
      if (!pending) flush();
    });
  });
}

/** A later answer must be the same version, the same size, and start no later than asked. */
function check(response: RangeResponse, from: number, plan: Plan, what: string): void {
  const fail = (error: ArtifactsError) => {
    discard(response.stream);
    throw error;
  };
  if (plan.pin !== undefined && response.pin !== undefined && response.pin !== plan.pin) {
    fail(changedError(what, `version ${plan.pin}, now ${response.pin}`));
  }
  if (response.totalSize !== plan.total) {
    fail(changedError(what, `${plan.total} bytes, now ${response.totalSize}`));
  }
  if (response.served.start > from || response.served.end < from) {
    fail(
      new ArtifactsError(
        'internal',
        `${what}: asked for bytes from ${from}, the store served ${response.served.start}-${response.served.end}`,
      ),
    );
  }
}

/** A not-found or failed condition on a pinned request: the object was replaced or deleted mid-read. */
function explain(error: unknown, pinned: boolean, what: string): unknown {
  if (
    pinned &&
    (ArtifactsError.is(error, 'failed_precondition') || ArtifactsError.is(error, 'not_found')) &&
    !(error as Error).message.includes('changed while it was being read')
  ) {
    const changed = changedError(what, `the store answered: ${(error as Error).message}`);
    return new ArtifactsError(changed.code, changed.message, { cause: error });
  }
  return error;
}

const ON_DESTROY = Symbol('onDestroy');
type StoppingStream = Readable & {
  [ON_DESTROY]?: { destroy: Readable['_destroy']; before: () => void };
};

/**
 * `_destroy` of a ranged read's stream: runs `before` (stop the requests, wake the generator), then
 * the stream's own. Shared, its state on the stream: a fresh function stored on the stream after it
 * was built keeps it past V8's young-generation collections (docs/benchmarks/s3.md).
 */
function destroyStopping(
  this: StoppingStream,
  error: Error | null,
  callback: (error?: Error | null) => void,
): void {
  const state = this[ON_DESTROY]!;
  state.before();
  state.destroy.call(this, error, callback);
}

/**
 * object_store's `GetClient` / OpenDAL's ranged reader, once for every store: one ordered stream of
 * bytes [start, end] of an object, fetched as ranged requests of `partSize` with up to
 * `concurrency` in flight (bounded read-ahead: memory stays within `concurrency × partSize`
 * whatever the object's size). Every request after the first is pinned to the version the first
 * answer named, so an object replaced mid-read fails with `failed_precondition` instead of mixing
 * two versions; a part that fails with a temporary error is resumed from its first missing byte
 * (only that part); each request is bounded by the stall timeout; every part's length is checked.
 * The first request is sent once (the retry layer repeats the opening of a read).
 */
export async function rangedRead(source: RangeSource, options: RangedReadOptions): Promise<RangedReadResult> {
  const policy = policyOf(options);
  // One listener on the caller's signal, removed once the stream closed (not `AbortSignal.any`: see
  // `linkedAbort`).
  const controller = linkedAbort(options.signal);
  const { signal } = controller;
  const p = await plan(source, options, signal, { ...policy, retry: undefined }).catch((error: unknown) => {
    controller.unlink();
    throw error;
  });
  const { first, parts } = p;

  interface Slot {
    chunks: Buffer[];
    /** Bytes in `chunks`. */
    buffered: number;
    done: boolean;
    /** The consumer waits for this part's next chunk. */
    wake: (() => void) | undefined;
    /** The part waits for the consumer to take some of what it buffered. */
    drain: (() => void) | undefined;
  }
  // A part read ahead holds at most this much before TCP back-pressure holds its store: memory
  // stays within concurrency × this, whatever the part size (GCS's default part is 100 MiB).
  const ahead = Math.min(options.partSize, AHEAD_BYTES);
  const heartbeat = Math.max(10, Math.min(1000, (policy.timeoutMs ?? 2000) / 2));
  const slots: Array<Slot | undefined> = [];
  let failure: unknown;
  let next = 0;
  const wakeAll = () => {
    for (const slot of slots) {
      slot?.wake?.();
      slot?.drain?.();
    }
  };
  const launch = () => {
    const index = next++;
    const part = parts[index]!;
    const slot: Slot = { chunks: [], buffered: 0, done: false, wake: undefined, drain: undefined };
    slots[index] = slot;
    readPart(
      source,
      p,
      part,
      index === 0 ? first : undefined,
      (chunk, _offset, touch) => {
        slot.chunks.push(chunk);
        slot.buffered += chunk.length;
        slot.wake?.();
        if (slot.buffered < ahead || failure !== undefined) return;
        // Wait for the consumer; a slow consumer is not a stalled store, so the part's stall
        // timeout is kept alive meanwhile.
        const timer = setInterval(touch, heartbeat);
        return new Promise<void>((resolve) => {
          slot.drain = resolve;
        }).finally(() => {
          clearInterval(timer);
          slot.drain = undefined;
        });
      },
      options,
      signal,
      policy,
    ).then(
      () => {
        slot.done = true;
        slot.wake?.();
      },
      (error: unknown) => {
        failure ??= explain(error, index > 0, options.what);
        controller.abort(failure);
        wakeAll();
      },
    );
  };

  let finished = parts.length === 0;
  async function* generate(): AsyncGenerator<Buffer> {
    for (let index = 0; index < parts.length; index++) {
      // The part being consumed and the ones read ahead: `concurrency` in all.
      while (next < parts.length && next < index + Math.max(1, options.concurrency)) launch();
      const slot = slots[index]!;
      for (;;) {
        if (failure !== undefined) throw failure;
        const chunk = slot.chunks.shift();
        if (chunk) {
          slot.buffered -= chunk.length;
          if (slot.buffered < ahead) slot.drain?.();
          yield chunk;
          continue;
        }
        if (slot.done) break;
        await new Promise<void>((resolve) => {
          slot.wake = resolve;
        });
        slot.wake = undefined;
      }
      slots[index] = undefined;
    }
    finished = true;
  }

  const stream = parts.length === 0 ? Readable.from([]) : Readable.from(generate(), { objectMode: false });
  const stop = () => controller.abort(new ArtifactsError('aborted', `${options.what} was closed`));
  // On an early destroy the generator may be parked awaiting a part: stop the requests first.
  (stream as StoppingStream)[ON_DESTROY] = {
    destroy: stream._destroy,
    before: () => {
      if (!finished && !signal.aborted) stop();
      wakeAll();
    },
  };
  stream._destroy = destroyStopping;
  // Closed before the last part was consumed: stop the requests still running.
  stream.once('close', () => {
    if (!finished && !signal.aborted) stop();
    controller.unlink();
  });
  const whole = p.span.start === 0 && (p.total === undefined || p.span.end === p.total - 1);
  const known = p.total !== undefined;
  return {
    stream,
    ...(known ? { size: p.span.end - p.span.start + 1, totalSize: p.total, served: p.span } : {}),
    ...(whole && first.checksum ? { checksum: first.checksum } : {}),
    ...(first.contentType ? { contentType: first.contentType } : {}),
    ...(first.pin === undefined ? {} : { etag: first.pin }),
    ...(first.lastModified === undefined ? {} : { lastModified: first.lastModified }),
  };
}

/**
 * The fast path of a local download: the same parts as `rangedRead`, each written at its offset
 * straight into `path` (the download's temporary file) as its bytes arrive — no reassembly through a
 * stream. Each part gathers the chunks it receives and writes them at their offset with one `writev`
 * per `writeSize` bytes; the gathered chunks and the writes in flight stay within `writeSize ×
 * 3 × concurrency` (4 MiB by default). When the store gives the whole object's checksum it is
 * verified: a CRC is combined from the parts' CRCs, any other digest (MD5) is computed in order while
 * the parts arrive (`FollowingDigest`). The caller removes `path` on failure.
 */
export async function rangedReadToFile(
  source: RangeSource,
  path: string,
  options: RangedReadOptions & {
    onBytes?: ((bytes: number) => void) | undefined;
    /**
     * Bytes of a part gathered into one file write (the chunks themselves, not a copy of them).
     * Default: sized to the concurrency (`writeSizeFor`), 64–256 KiB.
     */
    writeSize?: number | undefined;
  },
): Promise<RangedFileResult> {
  const policy = policyOf(options);
  // One listener on the caller's signal, removed at the end (not `AbortSignal.any`: see `linkedAbort`).
  const controller = linkedAbort(options.signal);
  const { signal } = controller;
  const p = await plan(source, options, signal, policy).catch((error: unknown) => {
    controller.unlink();
    throw error;
  });
  const { first, parts } = p;
  const whole = p.span.start === 0 && (p.total === undefined || p.span.end === p.total - 1);
  const checksum = whole ? first.checksum : undefined;
  if (parts.length === 1 && !parts[0]!.open && parts[0]!.end - parts[0]!.start < SMALL_FILE_BYTES) {
    return smallToFile(source, path, p, checksum, options, controller, policy);
  }
  const crcStep =
    checksum?.algorithm === 'crc32c' ? crc32c : checksum?.algorithm === 'crc32' ? crc32 : undefined;
  const crcs = new Array<number>(parts.length).fill(0);
  let digest: FollowingDigest | undefined;
  const workers = Math.max(1, Math.min(options.concurrency, parts.length));
  const writeSize = Math.max(1, options.writeSize ?? writeSizeFor(workers));
  let handle: FileHandle | undefined;
  let failure: unknown;
  /** Writes in flight, and who waits for one of them to end (a part with a write to start, the end). */
  let writing = 0;
  const waiting: Array<() => void> = [];
  const settled = (): Promise<void> =>
    writing === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve)).then(settled);
  try {
    // Read and write when a digest may read back what was written.
    handle = await open(path, checksum && !crcStep ? 'w+' : 'w');
    const { fd } = handle;
    if (checksum && !crcStep) digest = new FollowingDigest(createHasher(checksum.algorithm), fd);
    /**
     * Writes `chunks` (contiguous, `bytes` in all) from `position` with callback writes (one libuv
     * request and one callback each: the promise API's resolution, microtasks and async function
     * resumption cost more than the write's own submission), resuming a short write; then releases
     * the chunks that can be (`free`: their `RELEASE_CHUNK`). A failed write fails the download.
     */
    const writeAt = (chunks: Buffer[], position: number, bytes: number, free: Array<() => void>): void => {
      writing++;
      let pending = chunks;
      let written = 0;
      const done = (error: NodeJS.ErrnoException | null, count: number) => {
        if (!error) {
          written += count;
          if (written < bytes) {
            pending = dropFront(pending, count);
            send();
            return;
          }
          for (const release of free) release();
          digest?.written(position, position + bytes);
          options.onBytes?.(bytes);
        } else {
          failure ??= error;
          controller.abort(failure);
        }
        writing--;
        // The waiters check again: one of them starts its write, the others wait on.
        for (const wake of waiting.splice(0)) wake();
      };
      const send = () => {
        if (pending.length === 1) write(fd, pending[0]!, 0, pending[0]!.length, position + written, done);
        else writev(fd, pending, position + written, done);
      };
      send();
    };
    /** A part's received chunks not yet handed to a write: contiguous from `offset`. */
    interface Gathered {
      offset: number;
      chunks: Buffer[];
      bytes: number;
      /** The `RELEASE_CHUNK` of those of `chunks` that carry one, called once they are written. */
      free: Array<() => void>;
    }
    /**
     * Starts the write of what `gathered` holds; waits first while the download has all its writes
     * in flight (the only time it returns a promise: the part's stream is paused meanwhile).
     */
    const flush = (gathered: Gathered, touch?: () => void): Promise<void> | undefined => {
      if (gathered.bytes === 0) return;
      const { chunks, offset, bytes, free } = gathered;
      gathered.chunks = [];
      gathered.bytes = 0;
      gathered.free = [];
      const start = (): Promise<void> | undefined => {
        if (failure === undefined && writing >= WRITES_PER_PART * workers) {
          return new Promise<void>((resolve) => waiting.push(resolve)).then(start);
        }
        touch?.();
        if (failure !== undefined) throw failure;
        writeAt(chunks, offset - p.span.start, bytes, free);
      };
      return start();
    };
    let next = 0;
    const worker = async () => {
      while (failure === undefined && next < parts.length) {
        const index = next++;
        const gathered: Gathered = { offset: 0, chunks: [], bytes: 0, free: [] };
        try {
          await readPart(
            source,
            p,
            parts[index]!,
            index === 0 ? first : undefined,
            (chunk, offset, touch) => {
              if (crcStep) crcs[index] = crcStep(chunk, crcs[index]!);
              else digest?.arrived(chunk, offset - p.span.start);
              const gather = () => {
                if (gathered.bytes === 0) gathered.offset = offset;
                gathered.chunks.push(chunk);
                gathered.bytes += chunk.length;
                // A chunk as its store lent it (a cut of one is a new view, without the key).
                const release = (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK];
                if (release) gathered.free.push(release);
                if (gathered.bytes >= writeSize) return flush(gathered, touch);
              };
              if (gathered.bytes > 0 && offset !== gathered.offset + gathered.bytes)
                return flush(gathered, touch)?.then(gather) ?? gather();
              return gather();
            },
            options,
            signal,
            policy,
          );
          await flush(gathered);
        } catch (error) {
          failure ??= explain(error, index > 0, options.what);
          controller.abort(failure);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
    await settled();
    if (failure !== undefined) throw failure;
    const size = parts.reduce((sum, part) => sum + part.end - part.start + 1, 0);
    const written = (await handle.stat()).size;
    if (written !== size) {
      throw new ArtifactsError('integrity', `${options.what}: expected ${size} bytes, wrote ${written}`);
    }
    if (checksum) {
      let actual: string;
      if (crcStep) {
        let crc = crcs[0] ?? 0;
        for (let i = 1; i < parts.length; i++) {
          const part = parts[i]!;
          crc = crcCombine(
            checksum.algorithm as 'crc32' | 'crc32c',
            crc,
            crcs[i]!,
            part.end - part.start + 1,
          );
        }
        const out = Buffer.alloc(4);
        out.writeUInt32BE(crc >>> 0);
        actual = out.toString('base64');
      } else {
        actual = await digest!.digest(size);
      }
      if (actual !== checksum.value) {
        throw checksumMismatch(options.what, checksum, actual);
      }
    }
    return fileResult(size, p.total, checksum, first.contentType);
  } catch (error) {
    controller.abort(error);
    if (!first.stream.destroyed) discard(first.stream);
    throw error;
  } finally {
    // No write may land after the caller removes the file, and no read back may meet a closed one.
    await settled();
    await digest?.stop();
    controller.unlink();
    await handle?.close();
  }
}

/** Bytes the digest reads back from the file at a time, into one buffer of its own. */
const READ_BACK = 1024 * 1024;

/**
 * A whole-object digest that cannot be combined from the parts' (MD5), computed in byte order while
 * a download runs instead of by reading the whole file again at its end: a chunk that arrives where
 * the digest stands is hashed at once (a download in one answer is hashed as it streams, nothing is
 * read back); bytes that arrived ahead of it (later parts) are read back from the file once they are
 * written, as the digest reaches them — one reused buffer, no new buffer per read, and the hashing
 * overlaps the network instead of following it. Positions are the file's.
 */
class FollowingDigest {
  readonly #hasher: Hasher;
  readonly #fd: number;
  /** Bytes hashed: [0, at). */
  #at = 0;
  /** Written and not yet hashed, merged into runs: start → end and end → start. */
  readonly #byStart = new Map<number, number>();
  readonly #byEnd = new Map<number, number>();
  #buffer: Buffer | undefined;
  /** The read back in progress, if any. */
  #reading: Promise<void> | undefined;
  #failure: unknown;
  #stopped = false;

  constructor(hasher: Hasher, fd: number) {
    this.#hasher = hasher;
    this.#fd = fd;
  }

  /** A received chunk at `position`: hashed now if the digest stands there (else read back later). */
  arrived(chunk: Buffer, position: number): void {
    if (position !== this.#at || chunk.length === 0) return;
    this.#hasher.update(chunk);
    this.#at += chunk.length;
    // A later part may have been written up to here already.
    this.#readBack();
  }

  /** Bytes [start, end) are in the file. */
  written(start: number, end: number): void {
    // What was hashed as it arrived needs no reading back.
    let from = Math.max(start, this.#at);
    let to = end;
    if (from >= to) return;
    const before = this.#byEnd.get(from);
    if (before !== undefined) {
      this.#byEnd.delete(from);
      this.#byStart.delete(before);
      from = before;
    }
    const after = this.#byStart.get(to);
    if (after !== undefined) {
      this.#byStart.delete(to);
      this.#byEnd.delete(after);
      to = after;
    }
    this.#byStart.set(from, to);
    this.#byEnd.set(to, from);
    this.#readBack();
  }

  /** Reads back and hashes the written run that starts where the digest stands, while there is one. */
  #readBack(): void {
    if (this.#reading || this.#stopped || this.#failure !== undefined) return;
    const end = this.#byStart.get(this.#at);
    if (end === undefined) return;
    const start = this.#at;
    this.#buffer ??= Buffer.allocUnsafeSlow(READ_BACK);
    const buffer = this.#buffer;
    this.#reading = new Promise<void>((resolve) => {
      read(this.#fd, buffer, 0, Math.min(READ_BACK, end - start), start, (error, bytes) => {
        this.#reading = undefined;
        if (error || bytes === 0) {
          this.#failure ??= error ?? new Error(`the file ended at byte ${start} while it was hashed`);
        } else {
          this.#hasher.update(buffer.subarray(0, bytes));
          this.#at = start + bytes;
          // The run may have grown meanwhile (a write that ended where it began was merged into it).
          const runEnd = this.#byStart.get(start) ?? end;
          this.#byStart.delete(start);
          this.#byEnd.delete(runEnd);
          if (this.#at < runEnd) {
            this.#byStart.set(this.#at, runEnd);
            this.#byEnd.set(runEnd, this.#at);
          }
        }
        resolve();
        this.#readBack();
      });
    });
  }

  /** The digest of the file's first `size` bytes, once every write of them has been reported. */
  async digest(size: number): Promise<string> {
    while (this.#reading) await this.#reading;
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#at !== size) {
      throw new ArtifactsError('internal', `the download's digest covers ${this.#at} of its ${size} bytes`);
    }
    return this.#hasher.digest();
  }

  /** No more reads back (the download failed or is over); resolves once the one in progress is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    while (this.#reading) await this.#reading;
  }
}

/**
 * Bytes of a read in one answer that `rangedReadToFile` gathers in memory, checks, and only then
 * writes into a new file with one `open`/`writev`/`close` (`writeNew`): the body is in memory
 * already, a failed or mismatched download creates no file, and the file handle's `fstat` and
 * promises are spared.
 */
const SMALL_FILE_BYTES = 64 * 1024;

/**
 * `rangedReadToFile` for a read that one answer of at most {@link SMALL_FILE_BYTES} holds: the
 * answer's chunks are kept as they arrive (a broken answer is resumed from its first missing byte,
 * as any part), counted and checked against the checksum the store gave; only then is `path`
 * created (O_EXCL: never through a link planted there) and written. A failure, a mismatch or an
 * abort before then creates nothing.
 */
async function smallToFile(
  source: RangeSource,
  path: string,
  p: Plan,
  checksum: Checksum | undefined,
  options: RangedReadOptions & { onBytes?: ((bytes: number) => void) | undefined },
  controller: ReturnType<typeof linkedAbort>,
  policy: RequestPolicy,
): Promise<RangedFileResult> {
  const { first } = p;
  const part = p.parts[0]!;
  const size = part.end - part.start + 1;
  const chunks: Buffer[] = [];
  const free: Array<() => void> = [];
  try {
    await readPart(
      source,
      p,
      part,
      first,
      (chunk) => {
        chunks.push(chunk);
        // A chunk as its store lent it (a cut of one is a new view, without the key).
        const release = (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK];
        if (release) free.push(release);
        return undefined;
      },
      options,
      controller.signal,
      policy,
    );
    controller.signal.throwIfAborted();
    let received = 0;
    for (const chunk of chunks) received += chunk.length;
    if (received !== size) {
      throw new ArtifactsError('integrity', `${options.what}: expected ${size} bytes, received ${received}`);
    }
    if (checksum) {
      const hasher = createHasher(checksum.algorithm);
      for (const chunk of chunks) hasher.update(chunk);
      const actual = hasher.digest();
      if (actual !== checksum.value) {
        throw checksumMismatch(options.what, checksum, actual);
      }
    }
    await writeNew(path, chunks, size);
    // An abort that came while the file was written: the caller removes it.
    controller.signal.throwIfAborted();
    for (const release of free) release();
    options.onBytes?.(size);
    return fileResult(size, p.total, checksum, first.contentType);
  } catch (error) {
    const failure = explain(error, false, options.what);
    controller.abort(failure);
    if (!first.stream.destroyed) discard(first.stream);
    throw failure;
  } finally {
    controller.unlink();
  }
}

/**
 * Creates `path` (O_EXCL: never through a link planted there) holding `chunks` (`size` bytes):
 * callback `open`, `writev` (a short one resumed) and `close`, three libuv requests and no promise
 * per call, no `fstat` (the writes count the bytes).
 */
function writeNew(path: string, chunks: Buffer[], size: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    openFile(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666, (error, fd) => {
      if (error) {
        reject(error);
        return;
      }
      const finish = (failure: NodeJS.ErrnoException | null) =>
        close(fd, (closeError) => {
          const outcome = failure ?? closeError;
          if (outcome) reject(outcome);
          else resolve();
        });
      let pending = chunks;
      let written = 0;
      const send = () =>
        writev(fd, pending, written, (writeError, count) => {
          if (writeError) {
            finish(writeError);
            return;
          }
          written += count;
          if (written < size) {
            pending = dropFront(pending, count);
            send();
          } else finish(null);
        });
      send();
    });
  });
}

/** `chunks` without their first `bytes` bytes (what a short `writev` left to write). */
function dropFront(chunks: Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  let index = 0;
  while (index < chunks.length && skip >= chunks[index]!.length) skip -= chunks[index++]!.length;
  const rest = chunks.slice(index);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

/**
 * Keeps bytes [range.start, range.end] of a stream that holds `served`: what core does with a
 * driver's answer that served more than asked (a store without ranged reads). Stops reading the
 * source after the last wanted byte.
 */
export function sliceServed(source: Readable, served: ServedRange, range: ByteRange): Readable {
  let position = served.start;
  let ended = false;
  const last = range.end ?? Number.POSITIVE_INFINITY;
  const slice = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (ended) {
        callback();
        return;
      }
      const from = position;
      position += chunk.length;
      const lo = Math.max(range.start, from);
      const hi = Math.min(last + 1, position);
      if (hi > lo) this.push(chunk.subarray(lo - from, hi - from));
      if (position > last) {
        ended = true;
        this.push(null);
        source.on('error', () => undefined);
        source.destroy();
      }
      callback();
    },
  });
  source.on('error', (error) => slice.destroy(error));
  return source.pipe(slice);
}

import type { IncomingMessage } from 'node:http';
import { forEachLimited } from './delete.js';
import type { Checksum, DriverStat, PartUploadCredential } from './driver.js';
import type { RangeRequest, RangeResponse } from './engines/ranged-read.js';
import type { HttpAnswer } from './http-client.js';
import { parseContentRange, parseHttpDate } from './object-store.js';
import { answerHeader, httpStatusOf } from './store-http.js';

/**
 * What the drivers of object stores reached through `StoreHttp` (Azure, GCS) share above a request:
 * a ranged GET's answer as the ranged-read engine wants it, and deletion one object per request.
 */

/** How a store answers a ranged GET. */
export interface StoreRangeOptions {
  /** Ask for the whole object (no Range header) and say the store honours ranges later. */
  whole?: boolean;
  /** The answer's header naming the version later ranges are pinned to. Default `etag`. */
  pinHeader?: string;
}

/**
 * One ranged GET for the ranged-read engine: `get(range)` sends it (`range` undefined: the whole
 * object), pinned to `request.pin` as the store does it. A range of an empty object is unsatisfiable
 * (416): it is read whole instead. Gives the engine's response and the answer (for the store's
 * own headers: its checksum).
 */
export async function storeRange(
  request: RangeRequest,
  get: (range: string | undefined) => Promise<HttpAnswer>,
  options: StoreRangeOptions = {},
): Promise<{ answer: HttpAnswer; response: RangeResponse }> {
  const range = options.whole ? undefined : `bytes=${request.start}-${request.end}`;
  let answer: HttpAnswer;
  try {
    answer = await get(range);
  } catch (error) {
    if (range === undefined || httpStatusOf(error) !== 416 || request.start !== 0) throw error;
    answer = await get(undefined);
  }
  const response = rangeResponse(answer, options.pinHeader ?? 'etag', options.whole === true);
  return { answer, response };
}

/**
 * A GET's answer as the ranged-read engine's response: the range served (`Content-Range`, else the
 * whole body), the object's total size, the version named by `pinHeader`, its date and type.
 * `whole`: the request asked for no range, and later ranges will be honoured.
 */
export function rangeResponse(answer: HttpAnswer, pinHeader: string, whole: boolean): RangeResponse {
  const length = Number(answerHeader(answer, 'content-length') ?? 0);
  const served = parseContentRange(answerHeader(answer, 'content-range'));
  return {
    stream: answer.body,
    served: served ?? { start: 0, end: length - 1 },
    totalSize: served ? served.total : length,
    pin: answerHeader(answer, pinHeader),
    lastModified: parseHttpDate(answerHeader(answer, 'last-modified')),
    contentType: answerHeader(answer, 'content-type'),
    ...(whole ? { rangesHonoured: true } : {}),
  };
}

/**
 * A file's `DriverStat` from an answer's headers (a HEAD, or a GET's): its length when the answer
 * gives a valid one, the version (`etag`, or the header `version` names), the date and type, and
 * the `checksum` the store's own header gave.
 */
export function statFromHeaders(
  key: string,
  answer: Pick<HttpAnswer, 'headers'>,
  options: { version?: string; checksum?: Checksum | undefined } = {},
): DriverStat {
  const size = Number(answerHeader(answer, 'content-length') ?? Number.NaN);
  const etag = answerHeader(answer, options.version ?? 'etag');
  const lastModified = parseHttpDate(answerHeader(answer, 'last-modified'));
  const contentType = answerHeader(answer, 'content-type');
  return {
    key,
    isDir: false,
    ...(Number.isSafeInteger(size) && size >= 0 ? { size } : {}),
    ...(lastModified ? { lastModified } : {}),
    ...(etag ? { etag } : {}),
    ...(contentType ? { contentType } : {}),
    ...(options.checksum ? { checksum: options.checksum } : {}),
  };
}

/**
 * A `deleteMany` of a store that deletes one object per request: `remove` for each key, `limit` at
 * once; a key already gone (`gone(error)`) is deleted. Rejects with the first other failure once
 * all have settled.
 */
export function deleteEach(
  keys: readonly string[],
  limit: number,
  remove: (key: string) => Promise<unknown>,
  gone: (error: unknown) => boolean,
): Promise<void> {
  return forEachLimited(keys, limit, async (key) => {
    try {
      await remove(key);
    } catch (error) {
      if (!gone(error)) throw error;
    }
  });
}

/** A `CopySource.address` of the form `<bucket or container>/<name>`, split. */
export function splitAddress(address: string): { bucket: string; name: string } {
  const slash = address.indexOf('/');
  return { bucket: address.slice(0, slash), name: address.slice(slash + 1) };
}

const BODY_ERRORS = Symbol('bodyErrors');
type MappedBody = IncomingMessage & {
  [BODY_ERRORS]?: { destroy: IncomingMessage['_destroy']; map: (error: Error) => unknown };
};

/** `_destroy` of a body whose errors are mapped: shared by all of them, its state on the body. */
function destroyMapped(
  this: MappedBody,
  error: Error | null,
  callback: (error?: Error | null) => void,
): void {
  const { destroy, map } = this[BODY_ERRORS]!;
  destroy.call(this, error, (final) => {
    const mapped = final ? map(final) : final;
    callback(mapped instanceof Error ? mapped : final);
  });
}

/**
 * Maps the errors an answer's body emits (a connection closed under it) with `map`, in the stream's
 * own destroy path: no stream is piped in between, so the bytes pay nothing for it. The body gets a
 * shared `_destroy` and a state object, not a fresh closure: a function stored on an object after
 * it was built keeps it past V8's young-generation collections (docs/benchmarks/s3.md).
 */
export function mapBodyErrors(body: IncomingMessage, map: (error: Error) => unknown): IncomingMessage {
  const mapped = body as MappedBody;
  mapped[BODY_ERRORS] = { destroy: body._destroy, map };
  body._destroy = destroyMapped;
  return body;
}

/** A proxied multipart upload's part URLs, parts 1 to `count`, each signed by `url` in turn. */
export async function partCredentials(
  count: number,
  url: (partNumber: number) => Promise<string>,
  headers: Record<string, string> = {},
): Promise<PartUploadCredential[]> {
  const credentials: PartUploadCredential[] = [];
  for (let partNumber = 1; partNumber <= count; partNumber++)
    credentials.push({ url: await url(partNumber), partNumber, headers: { ...headers } });
  return credentials;
}

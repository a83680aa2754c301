import type { IncomingHttpHeaders } from 'node:http';
import { ArtifactsError, isAbortError } from './errors.js';
import { type HttpAnswer, type HttpExchange, type HttpPool, readBodyText } from './http-client.js';

/**
 * What the object stores' own REST requests share (S3's, and the lean paths of Azure and GCS, which
 * each wrote it themselves): one exchange over `HttpPool` with the failure of an error answer built
 * by the store, and credentials or tokens fetched once and shared until shortly before they expire.
 * Signing, addressing and the meaning of a store's error codes stay with each driver.
 */

/** An answer of 300 or more, as a store's `failure` gets it. */
export interface FailedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** At most 64 KiB of the error body ('' for a HEAD). */
  text: string;
}

/** How `storeRequest` marks a request that got no answer, for core's `requestFailure`. */
export interface UnansweredRequest {
  /** Where it went: origin and path, never the query (a signature, a SAS). */
  request: { url: string };
  /** The origin answered this pool before: a refusal now is a restart (`connectFailure`'s `reached`). */
  reached: boolean;
}

/**
 * One request of an object store's REST API: resolves with an answer below 300 (its body the
 * caller's); any other is read (at most 64 KiB; a longer one's connection is closed), and thrown as the store's
 * own error, which `failure` builds. A request that got no answer rejects with its own error marked
 * as an `UnansweredRequest`; ArtifactsErrors (the pool's timeouts) and aborts pass as they are.
 */
export async function storeRequest(
  pool: HttpPool,
  exchange: HttpExchange,
  failure: (answer: FailedAnswer) => Error,
): Promise<HttpAnswer> {
  let answer: HttpAnswer;
  try {
    answer = await pool.request(exchange);
  } catch (error) {
    if (typeof error === 'object' && error !== null && !ArtifactsError.is(error) && !isAbortError(error)) {
      const url = new URL(exchange.url);
      const marks: UnansweredRequest = {
        request: { url: `${url.origin}${url.pathname}` },
        reached: pool.reached(url),
      };
      Object.assign(error, marks);
    }
    throw error;
  }
  if (answer.statusCode < 300) return answer;
  // Read even when empty (a HEAD's): a body left unread would take its keep-alive socket with it.
  const text = await readBodyText(answer.body, 65_536);
  answer.body.destroy();
  throw failure({ status: answer.statusCode, headers: answer.headers, text });
}

/**
 * A credential or token fetched on first use and shared by every caller — concurrent ones wait for
 * the same fetch — until `refreshAt(value)` (epoch ms; undefined = never), then fetched again. A
 * failed fetch is not kept: the next caller tries again.
 */
export function refreshing<T>(
  fetch: () => Promise<T>,
  refreshAt: (value: T) => number | undefined,
): () => Promise<T> {
  let current: Promise<T> | undefined;
  let until = 0;
  return () => {
    if (current === undefined || Date.now() >= until) {
      until = Number.POSITIVE_INFINITY;
      const fetching = fetch().then(
        (value) => {
          until = refreshAt(value) ?? Number.POSITIVE_INFINITY;
          return value;
        },
        (error: unknown) => {
          if (current === fetching) current = undefined;
          throw error;
        },
      );
      current = fetching;
    }
    return current;
  };
}

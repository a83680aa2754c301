import { discardBody, type HttpAnswer, httpStatusOf } from '@artifacts/core';
import type { S3Object } from './multipart.js';
import type { S3Requests } from './requests.js';

/**
 * HeadObject (its answer, for core's `statFromHeaders` and a copy's metadata). Its 403 carries no body, so it cannot say whether the key or the credentials were
 * refused: a one-byte GET of the same key does, and its refusal (400, 401, 403) is thrown instead.
 */
export async function headObject(
  requests: S3Requests,
  { Bucket, Key, sseC }: Pick<S3Object, 'Bucket' | 'Key' | 'sseC'>,
  signal: AbortSignal | undefined,
): Promise<HttpAnswer> {
  let answer: HttpAnswer;
  try {
    answer = await requests.send({ method: 'HEAD', Bucket, Key, headers: sseC, signal });
  } catch (error) {
    if (httpStatusOf(error) === 403) {
      try {
        const probe = await requests.send({
          method: 'GET',
          Bucket,
          Key,
          headers: { ...sseC, range: 'bytes=0-0' },
          signal,
        });
        probe.body.destroy();
      } catch (refused) {
        if ([400, 401, 403].includes(httpStatusOf(refused) ?? 0)) throw refused;
      }
    }
    throw error;
  }
  await discardBody(answer.body);
  return answer;
}

import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type DriverStat,
  discardBody,
  type HttpAnswer,
  httpStatusOf,
  type RangeSource,
  rangeResponse,
} from '@artifacts/core';
import { s3ErrorCode } from './errors.js';
import type { S3Object } from './multipart.js';
import type { S3Requests } from './requests.js';
import { pickChecksum } from './upload.js';

/** One object's reads: where it is, and what of the driver they need. */
export interface S3Get extends S3Object {
  /** The artifact key (the object key relative to the repository root). */
  key: string;
  /** Whether a whole GET asks for the object's stored checksum. */
  checksums: boolean;
  /** The driver's stat of the key (an unsatisfiable range: past the end, or an empty object). */
  stat(signal: AbortSignal): Promise<DriverStat | undefined>;
}

/**
 * One GET for the engine. The first request of a whole-object read is a plain GET (one request
 * for a small object, and the only answer that carries the object's checksum); every other is a
 * ranged GET pinned to the first answer's ETag with If-Match, so an object replaced half-way fails
 * (412) instead of mixing two versions.
 */
export function rangedGet(g: S3Get): RangeSource {
  const { Bucket, Key } = g;
  return {
    readRange: async (request) => {
      const range = request.whole ? undefined : `bytes=${request.start}-${request.end}`;
      let answer: HttpAnswer;
      try {
        answer = await g.requests.send({
          method: 'GET',
          Bucket,
          Key,
          headers: {
            ...g.sseC,
            ...(range ? { range } : g.checksums ? { 'x-amz-checksum-mode': 'ENABLED' } : {}),
            ...(request.pin ? { 'if-match': request.pin } : {}),
          },
          signal: request.signal,
        });
      } catch (error) {
        if (!request.whole && s3ErrorCode(error) === 'InvalidRange') {
          // Past the end (or any range of an empty object): nothing to read.
          const info = await g.stat(request.signal);
          if (!info || info.isDir)
            throw ArtifactsError.notFound(`s3://${Bucket}/${Key}`, { context: { key: g.key } });
          return {
            stream: Readable.from([]),
            served: { start: request.start, end: request.start - 1 },
            totalSize: info.size ?? 0,
            ...(info.etag ? { pin: info.etag } : {}),
            lastModified: info.lastModified,
          };
        }
        throw error;
      }
      const checksum = request.whole ? pickChecksum(answer.headers) : undefined;
      return { ...rangeResponse(answer, 'etag', request.whole), ...(checksum ? { checksum } : {}) };
    },
  };
}

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

import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type DriverStat,
  discardBody,
  parseContentRange,
  parseHttpDate,
  type RangeSource,
} from '@artifacts/core';
import { type BuiltClient, command, type LazyClient } from './client.js';
import { httpStatus, s3ErrorCode } from './errors.js';
import type { SseC } from './extra-args.js';
import { checksumFields, sseCHeaders } from './lean.js';
import { pickChecksum } from './upload.js';

/** One object's reads: where it is, and what of the driver they need. */
export interface S3Get {
  /** The SDK client, and our own GET when the driver has one. */
  built: Pick<BuiltClient, 'client' | 'lean'>;
  Bucket: string;
  Key: string;
  /** The artifact key (the object key relative to the repository root). */
  key: string;
  sseC: SseC;
  /** Whether a whole GET asks for the object's stored checksum. */
  checksums: boolean;
  /** The driver's stat of the key (an unsatisfiable range: past the end, or an empty object). */
  stat(signal: AbortSignal): Promise<DriverStat | undefined>;
  /** The driver's error mapping. */
  error(error: unknown): unknown;
}

/**
 * One GET for the engine. The first request of a whole-object read is a plain GET (one request
 * for a small object, and the only answer that carries the object's checksum); every other is a
 * ranged GET pinned to the first answer's ETag with If-Match, so an object replaced half-way fails
 * (412) instead of mixing two versions.
 */
export function rangedGet(g: S3Get): RangeSource {
  const { Bucket, Key } = g;
  const { client, lean } = g.built;
  const sseC = lean ? sseCHeaders(g.sseC) : {};
  return {
    readRange: async (request) => {
      const range = request.whole ? undefined : `bytes=${request.start}-${request.end}`;
      let output: GetOutput;
      try {
        if (lean) {
          const answer = await lean.send({
            method: 'GET',
            Bucket,
            Key,
            headers: {
              ...sseC,
              ...(range ? { range } : g.checksums ? { 'x-amz-checksum-mode': 'ENABLED' } : {}),
              ...(request.pin ? { 'if-match': request.pin } : {}),
            },
            signal: request.signal,
          });
          const h = answer.headers;
          output = {
            ...checksumFields(h),
            Body: answer.body,
            ContentLength: Number(h['content-length'] ?? 0),
            ContentRange: h['content-range'],
            ContentType: h['content-type'],
            LastModified: parseHttpDate(h['last-modified']),
          };
        } else {
          const get = command('GetObject', {
            Bucket,
            Key,
            ...g.sseC,
            ...(range ? { Range: range } : {}),
            ...(request.pin ? { IfMatch: request.pin } : {}),
          });
          output = await client.send(get, { abortSignal: request.signal });
        }
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
        throw g.error(error);
      }
      const length = output.ContentLength ?? 0;
      const ranged = parseContentRange(output.ContentRange);
      const served = ranged ?? { start: 0, end: length - 1 };
      const checksum = request.whole ? pickChecksum(output as Record<string, unknown>) : undefined;
      return {
        stream: output.Body as Readable,
        served,
        totalSize: ranged ? ranged.total : length,
        pin: output.ETag,
        lastModified: output.LastModified,
        ...(request.whole ? { rangesHonoured: true } : {}),
        ...(checksum ? { checksum } : {}),
        contentType: output.ContentType,
        // Our own GET's body is Node's IncomingMessage: each chunk a buffer of its own.
        ownChunks: lean !== undefined,
      };
    },
  };
}

/** What a GET answered, from the SDK or from our own request. */
interface GetOutput {
  Body?: unknown;
  ContentLength?: number | undefined;
  ContentRange?: string | undefined;
  ContentType?: string | undefined;
  ETag?: string | undefined;
  LastModified?: Date | undefined;
}

/**
 * A HEAD answer carries no body, so its 403 does not say whether the key or the credentials were
 * refused; a one-byte GET of the same key does. Returns that GET's refusal (400, 401, 403), if any.
 */
export async function probeRead(
  client: LazyClient,
  params: { Bucket: string; Key: string } & SseC,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  try {
    const probe = await client.send(
      command('GetObject', { ...params, Range: 'bytes=0-0' }),
      signal ? { abortSignal: signal } : {},
    );
    (probe.Body as Readable | undefined)?.destroy();
  } catch (error) {
    const status = httpStatus(error);
    if (status === 403 || status === 400 || status === 401) return error;
  }
  return undefined;
}

/** HeadObject: our own request when the driver has one, else the SDK's. */
export async function headObject(
  built: Pick<BuiltClient, 'client' | 'lean'>,
  params: { Bucket: string; Key: string } & SseC,
  signal: AbortSignal | undefined,
): Promise<{ ContentLength?: number; LastModified?: Date; ETag?: string; ContentType?: string }> {
  const { lean, client } = built;
  if (!lean) return client.send(command('HeadObject', params), signal ? { abortSignal: signal } : {});
  const answer = await lean.send({
    method: 'HEAD',
    Bucket: params.Bucket,
    Key: params.Key,
    headers: sseCHeaders(params),
    signal,
  });
  await discardBody(answer.body);
  const h = answer.headers;
  const lastModified = parseHttpDate(h['last-modified']);
  return {
    ...(h['content-length'] === undefined ? {} : { ContentLength: Number(h['content-length']) }),
    ...(lastModified ? { LastModified: lastModified } : {}),
    ...(typeof h.etag === 'string' ? { ETag: h.etag } : {}),
    ...(typeof h['content-type'] === 'string' ? { ContentType: h['content-type'] } : {}),
  };
}

import {
  ArtifactsError,
  type CompletedPart,
  encodeRfc3986,
  guessContentType,
  httpStatusOf,
  type MultipartCapability,
  type MultipartUpload,
  type OperationOptions,
  type PresignCapability,
  partCredentials,
  presignSeconds,
  type StoreHttp,
  sortedParts,
} from '@artifacts/core';
import type { Bucket, File } from '@google-cloud/storage';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/**
 * A V4 signed URL for one object, by the client library's signer (path style on the client's
 * endpoint). Extra `queryParams` (an XML-API part's partNumber and uploadId) are signed with it.
 */
export async function signObjectUrl(
  file: File,
  action: 'read' | 'write',
  expiresInSeconds: number,
  contentType?: string,
  queryParams?: Record<string, string>,
): Promise<string> {
  // One clock reading for both ends: the library's own later reading could cross a second boundary
  // and sign one second less than asked.
  const now = Date.now();
  const [url] = await file.getSignedUrl({
    version: 'v4',
    action,
    accessibleAt: new Date(now),
    expires: now + expiresInSeconds * 1000,
    ...(contentType ? { contentType } : {}),
    ...(queryParams ? { queryParams } : {}),
  });
  return url;
}

/** What signing and the XML API need of the driver. */
export interface SigningTarget {
  bucket: Bucket;
  /** Our requests (the XML API shares the JSON API's host, path style). */
  http: StoreHttp;
  name(key: string): string;
  /** Runs one call of `key`, its errors mapped. */
  run<T>(what: string, key: string, fn: () => Promise<T>): Promise<T>;
}

/** V4 signed GET and PUT URLs. */
export function gcsPresign(target: SigningTarget): PresignCapability {
  return {
    getUrl: (key, o) => signedUrl(target, key, 'read', o?.expiresInSeconds),
    putUrl: (key, o) => signedUrl(target, key, 'write', o?.expiresInSeconds, o?.contentType),
  };
}

async function signedUrl(
  target: SigningTarget,
  key: string,
  action: 'read' | 'write',
  seconds: number | undefined,
  contentType?: string,
  queryParams?: Record<string, string>,
): Promise<string> {
  // One hour unless asked; V4 signing allows at most 7 days.
  const expiresInSeconds = presignSeconds(seconds);
  return target.run('signing a URL', key, () =>
    signObjectUrl(target.bucket.file(target.name(key)), action, expiresInSeconds, contentType, queryParams),
  );
}

/**
 * Proxied multipart uploads through the XML API (MLflow's GCS multipart): a signed PUT URL per
 * part, completed or aborted with one XML request.
 */
export function gcsMultipart(target: SigningTarget): MultipartCapability {
  const request = (
    key: string,
    method: string,
    query: [string, string][],
    options: OperationOptions,
    xml = '',
  ) =>
    target.http.text({
      method,
      path: `/${encodeRfc3986(target.bucket.name)}/${target.name(key).split('/').map(encodeRfc3986).join('/')}`,
      query,
      headers: {
        ...(method === 'POST' ? { 'content-type': xml ? 'application/xml' : guessContentType(key) } : {}),
        'content-length': String(Buffer.byteLength(xml)),
      },
      body: Buffer.from(xml),
      signal: options.signal,
    });
  const uploadIdOf = (uploadId: string | null): [string, string][] => {
    if (!uploadId) throw ArtifactsError.invalidArgument('a GCS multipart upload needs its upload_id');
    return [['uploadId', uploadId]];
  };
  return {
    async create(key, options): Promise<MultipartUpload> {
      const xml = await target.run('starting a multipart upload', key, () =>
        request(key, 'POST', [['uploads', '']], options),
      );
      const parsed = new XMLParser().parse(xml) as { InitiateMultipartUploadResult?: { UploadId?: unknown } };
      const uploadId = parsed.InitiateMultipartUploadResult?.UploadId;
      if (typeof uploadId !== 'string' || uploadId === '') {
        throw new ArtifactsError(
          'internal',
          'the XML API answered the multipart upload request without an UploadId',
        );
      }
      const part = (n: number) =>
        signedUrl(target, key, 'write', options.expiresInSeconds, undefined, {
          partNumber: String(n),
          uploadId,
        });
      return { uploadId, credentials: await partCredentials(options.numParts, part) };
    },

    async complete(key, uploadId, parts: CompletedPart[], options = {}): Promise<void> {
      const query = uploadIdOf(uploadId);
      const sorted = sortedParts(parts);
      const body = new XMLBuilder({ arrayNodeName: 'Part' }).build(
        sorted.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })),
      ) as string;
      await target.run('completing a multipart upload', key, () =>
        request(key, 'POST', query, options, `<CompleteMultipartUpload>${body}</CompleteMultipartUpload>`),
      );
    },

    async abort(key, uploadId, options = {}): Promise<void> {
      const query = uploadIdOf(uploadId);
      await target.run('aborting a multipart upload', key, async () => {
        try {
          await request(key, 'DELETE', query, options);
        } catch (error) {
          // Aborting an upload that is already gone (completed, aborted, expired) achieves the goal.
          if (httpStatusOf(error) !== 404) throw error;
        }
      });
    },
  };
}

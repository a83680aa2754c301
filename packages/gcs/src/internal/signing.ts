import {
  encodePath,
  httpStatusOf,
  type MultipartCapability,
  type PresignCapability,
  presignSeconds,
  type StoreHttp,
  xmlMultipartCapability,
  xmlReader,
} from '@artifacts/core';
import type { File } from '@google-cloud/storage';

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
  bucketName: string;
  /** `key`'s object in the library's client with credentials, found on first use. */
  file(key: string): Promise<File>;
  /** Our requests (the XML API shares the JSON API's host, path style). */
  http: StoreHttp;
  name(key: string): string;
  /** Runs one call of `key`, its errors mapped. */
  run<T>(what: string, key: string, fn: () => Promise<T>): Promise<T>;
}

/** V4 signed GET and PUT URLs, one hour unless asked (V4 signing allows at most 7 days). */
export function gcsPresign(target: SigningTarget): PresignCapability {
  const url = async (key: string, action: 'read' | 'write', seconds?: number, contentType?: string) => {
    const expiresInSeconds = presignSeconds(seconds);
    return target.run('signing a URL', key, async () =>
      signObjectUrl(await target.file(key), action, expiresInSeconds, contentType),
    );
  };
  return {
    getUrl: (key, o) => url(key, 'read', o?.expiresInSeconds),
    putUrl: (key, o) => url(key, 'write', o?.expiresInSeconds, o?.contentType),
  };
}

const xml = xmlReader();

/**
 * Proxied multipart uploads through the XML API (MLflow's GCS multipart): core's XML multipart
 * protocol, S3's, with a V4 signed PUT URL per part.
 */
export function gcsMultipart(target: SigningTarget): MultipartCapability {
  return xmlMultipartCapability({
    // Core's transport gives a body in memory (or none) its Content-Length.
    send: (key, signal) => async (request) => {
      const text = await target.http.text({
        method: request.method,
        path: `/${encodePath(`${target.bucketName}/${target.name(key)}`)}`,
        query: Object.entries(request.query),
        headers: request.headers,
        body: request.body,
        signal,
      });
      return xml(text);
    },
    describe: (key) => `gs://${target.bucketName}/${target.name(key)}`,
    partUrl: async (key, uploadId, partNumber, expiresInSeconds) =>
      signObjectUrl(await target.file(key), 'write', expiresInSeconds, undefined, {
        partNumber: String(partNumber),
        uploadId,
      }),
    // Aborting an upload that is already gone (completed, aborted, expired) achieves the goal.
    gone: (error) => httpStatusOf(error) === 404,
    run: target.run,
  });
}

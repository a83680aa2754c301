import type { Readable } from 'node:stream';
import { ArtifactsError, answerHeader, httpStatusOf, type StoreHttp } from '@artifacts/core';
import { objectPath } from './lean.js';

/** What the JSON API says of an object (the members this package reads). */
export interface ObjectMeta {
  size?: string | number;
  updated?: string;
  generation?: string | number;
  contentType?: string;
  crc32c?: string;
  md5Hash?: string;
}

/** One object to upload. */
export interface UploadTarget {
  bucket: string;
  name: string;
  contentType: string;
  /** Bytes of the body when known (a simple upload needs it). */
  size: number | undefined;
  signal?: AbortSignal | undefined;
}

const uploadPath = (bucket: string) => `/upload${objectPath(bucket)}`;

/** A simple upload (`uploadType=media`): the body of known size in one request; the object's metadata. */
export function simpleUpload(http: StoreHttp, target: UploadTarget & { size: number }, body: Readable) {
  return http.json<ObjectMeta>({
    method: 'POST',
    path: uploadPath(target.bucket),
    query: [
      ['uploadType', 'media'],
      ['name', target.name],
    ],
    headers: { 'content-type': target.contentType, 'content-length': String(target.size) },
    body,
    signal: target.signal,
  });
}

/**
 * A resumable session streamed in one request, as the client library sends it without a chunk size
 * (`Content-Range: bytes 0-*\/*`): the object appears only when that request completes, so a failed
 * or aborted upload leaves nothing; the session is then cancelled (best effort). The stall bound
 * (core's timeout) covers the body and the wait for the answer.
 */
export async function resumableUpload(
  http: StoreHttp,
  target: UploadTarget,
  body: Readable,
): Promise<ObjectMeta> {
  const { contentType, signal } = target;
  const start = await http.drain({
    method: 'POST',
    path: uploadPath(target.bucket),
    query: [
      ['uploadType', 'resumable'],
      ['name', target.name],
    ],
    headers: { 'content-type': 'application/json; charset=UTF-8', 'x-upload-content-type': contentType },
    body: Buffer.from(JSON.stringify({ contentType })),
    signal,
  });
  const session = answerHeader(start, 'location');
  if (!session) {
    throw new ArtifactsError('internal', 'the resumable upload request was answered without a session URI');
  }
  try {
    return await http.json<ObjectMeta>({
      method: 'PUT',
      url: session,
      headers: { 'content-range': 'bytes 0-*/*' },
      body,
      signal,
    });
  } catch (error) {
    void http.drain({ method: 'DELETE', url: session }).catch(() => undefined);
    // 308: the store kept the session open (it did not take the body as complete): nothing is visible.
    if (httpStatusOf(error) === 308) {
      throw new ArtifactsError('unavailable', 'the store did not complete the resumable upload', {
        cause: error,
        temporary: true,
      });
    }
    throw error;
  }
}

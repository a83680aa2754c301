import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  chunkedUpload,
  type PartLimits,
  type PartRequest,
  type RequestRetry,
} from '@artifacts/core';
import { multipartUrl } from '../endpoint.js';
import { discard, type HttpClient } from './client.js';

/** MLflow's client falls back to one PUT when the server's 501 message starts with this. */
export const MPU_UNSUPPORTED = 'Multipart upload is not supported for the current artifact repository';

interface CreateResponse {
  upload_id?: unknown;
  credentials?: unknown;
}

interface Credential {
  url: string;
  partNumber: number;
  headers: Record<string, string>;
}

export interface MultipartRequest {
  apiBase: string;
  /** Directory of the artifact inside the server's destination (the mpu routes' URL path). */
  dir: string;
  /** The file name (the mpu body's `path`; MLflow's server keeps its base name). */
  name: string;
  body: Readable;
  size: number;
  chunkSize: number;
  concurrency: number;
  /** Bound on each stall of each part's PUT, ms (core's chunked-upload engine). */
  timeoutMs?: number | undefined;
  /** The retry layer's policy for each part (core's `RequestRetry`). */
  retry?: RequestRetry | undefined;
  /** Attempts per part without `retry`, the first included. */
  maxAttempts?: number | undefined;
  onActivity?: (() => void) | undefined;
  signal?: AbortSignal;
}

interface UploadedPart {
  part_number: number;
  etag: string;
  url: string;
}

/** The server hands out the part URLs: the part size is the client's chunk size, whatever the count. */
const SERVER_LIMITS: PartLimits = {
  maxParts: Number.MAX_SAFE_INTEGER,
  minPartSize: 1,
  maxPartSize: Number.MAX_SAFE_INTEGER,
};

/**
 * Uploads through the server's mpu/* routes, with core's chunked-upload engine: create (presigned
 * part URLs), PUT every part straight to storage — `concurrency` at a time, from a fixed pool of
 * part buffers, each part retried on its own — with the client's TLS settings, then complete with
 * the parts' ETags. Any failure aborts the upload. Returns false, having consumed nothing, when the
 * server's destination has no multipart support.
 */
export async function uploadMultipart(client: HttpClient, request: MultipartRequest): Promise<boolean> {
  const numParts = Math.max(1, Math.ceil(request.size / request.chunkSize));
  const what = `uploading ${JSON.stringify(request.name)} in ${numParts} parts`;
  const json = JSON.stringify;
  let created: CreateResponse;
  /** One call of the server's mpu routes. */
  const post = <T>(
    action: 'create' | 'complete' | 'abort',
    body: object,
    doing: string,
    signal?: AbortSignal,
  ) =>
    client.json<T>('POST', multipartUrl(request.apiBase, action, request.dir), {
      body: json({ path: request.name, ...body }),
      headers: { 'content-type': 'application/json' },
      what: `${doing} the multipart upload of ${JSON.stringify(request.name)}`,
      ...(signal ? { signal } : {}),
    });
  try {
    created = await post<CreateResponse>('create', { num_parts: numParts }, 'starting', request.signal);
  } catch (error) {
    if (ArtifactsError.is(error, 'unsupported') && error.message.includes(MPU_UNSUPPORTED)) return false;
    throw error;
  }
  const uploadId = typeof created.upload_id === 'string' ? created.upload_id : null;
  const credentials = parseCredentials(created.credentials, numParts);
  const blockStore = uploadId === null;
  const withId = uploadId === null ? {} : { upload_id: uploadId };
  let sent = 0;

  await chunkedUpload<UploadedPart, void>(
    request.body,
    {
      // Created above: the server must first say whether it supports multipart at all.
      create: async () => {},
      uploadPart: async (part) => {
        const credential = credentials[part.partNumber - 1];
        if (!credential) {
          throw new ArtifactsError(
            'integrity',
            `${what}: the body is longer than the ${request.size} bytes announced`,
          );
        }
        const etag = await putPart(client, credential, part, what, blockStore);
        return { part_number: credential.partNumber, etag, url: credential.url };
      },
      complete: async (parts, context) => {
        if (sent !== request.size) {
          throw new ArtifactsError(
            'integrity',
            `${what}: the body ended after ${sent} bytes, ${request.size} were announced`,
          );
        }
        await post('complete', { ...withId, parts }, 'completing', context.signal);
      },
      abort: async (context) => {
        await post('abort', withId, 'aborting', context.signal);
      },
    },
    {
      partSize: request.chunkSize,
      concurrency: request.concurrency,
      limits: SERVER_LIMITS,
      size: request.size,
      timeoutMs: request.timeoutMs,
      retry: request.retry,
      maxAttempts: request.maxAttempts,
      signal: request.signal,
      onActivity: request.onActivity,
      onData: (data) => {
        sent += data.length;
      },
      what,
    },
  );
  return true;
}

async function putPart(
  client: HttpClient,
  credential: Credential,
  part: PartRequest,
  what: string,
  blockStore: boolean,
): Promise<string> {
  // Straight to storage: the presigned URL is the credential; the server's are never sent there.
  // The engine retries the part, with a fresh stream of its buffer.
  const response = await client.send('PUT', credential.url, {
    body: part.body(),
    headers: { ...credential.headers, 'content-length': String(part.data.length) },
    credentials: false,
    what: `${what}: part ${credential.partNumber}`,
    signal: part.signal,
  });
  await discard(response);
  const etag = response.headers.etag;
  const value = Array.isArray(etag) ? etag[0] : etag;
  // Without an upload id the destination is a block store (Azure): the part URL names the block,
  // the commit lists blocks by number, and Put Block answers without an ETag. MLflow sends '' too.
  if (!value && blockStore) return '';
  if (!value) {
    throw new ArtifactsError(
      'unavailable',
      `${what}: storage accepted part ${credential.partNumber} without an ETag header (is ETag exposed by its CORS/proxy settings?)`,
    );
  }
  return value;
}

function parseCredentials(raw: unknown, numParts: number): Credential[] {
  if (!Array.isArray(raw) || raw.length !== numParts) {
    throw new ArtifactsError(
      'integrity',
      `the server's mpu/create answer has ${Array.isArray(raw) ? raw.length : 'no'} part URLs, ${numParts} were asked for`,
    );
  }
  return raw
    .map((item: unknown) => {
      const c = (item ?? {}) as { url?: unknown; part_number?: unknown; headers?: unknown };
      const partNumber = Number(c.part_number);
      if (typeof c.url !== 'string' || !/^https?:\/\//i.test(c.url) || !Number.isSafeInteger(partNumber)) {
        throw new ArtifactsError('integrity', 'the server handed out a part URL that is not an http(s) URL');
      }
      const headers: Record<string, string> = {};
      if (c.headers && typeof c.headers === 'object') {
        for (const [name, value] of Object.entries(c.headers as Record<string, unknown>)) {
          if (typeof value === 'string') headers[name.toLowerCase()] = value;
        }
      }
      return { url: c.url, partNumber, headers };
    })
    .sort((a, b) => a.partNumber - b.partNumber);
}

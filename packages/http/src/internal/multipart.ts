import type { Readable } from 'node:stream';
import { ArtifactsError } from '@artifacts/core';
import { multipartUrl } from '../endpoint.js';
import type { HttpClient } from './client.js';
import { PartReader } from './streams.js';

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
  signal?: AbortSignal;
}

/**
 * Uploads through the server's mpu/* routes: create (presigned part URLs), PUT every part straight to
 * storage — `concurrency` at a time, each held in memory so that a failed part is retried — with
 * the client's TLS settings, then complete with the parts' ETags. Any failure aborts the upload.
 * Returns false, having consumed nothing, when the server's destination has no multipart support.
 */
export async function uploadMultipart(client: HttpClient, request: MultipartRequest): Promise<boolean> {
  const numParts = Math.max(1, Math.ceil(request.size / request.chunkSize));
  const what = `uploading ${JSON.stringify(request.name)} in ${numParts} parts`;
  const json = JSON.stringify;
  const signal = request.signal ? { signal: request.signal } : {};
  let created: CreateResponse;
  try {
    created = await client.json<CreateResponse>(
      'POST',
      multipartUrl(request.apiBase, 'create', request.dir),
      {
        body: json({ path: request.name, num_parts: numParts }),
        headers: { 'content-type': 'application/json' },
        idempotent: true,
        what: `starting the multipart upload of ${JSON.stringify(request.name)}`,
        ...signal,
      },
    );
  } catch (error) {
    if (ArtifactsError.is(error, 'unsupported') && error.message.includes(MPU_UNSUPPORTED)) return false;
    throw error;
  }
  const uploadId = typeof created.upload_id === 'string' ? created.upload_id : null;
  const credentials = parseCredentials(created.credentials, numParts);
  const abort = async () => {
    await client
      .send('POST', multipartUrl(request.apiBase, 'abort', request.dir), {
        body: json({ path: request.name, ...(uploadId === null ? {} : { upload_id: uploadId }) }),
        headers: { 'content-type': 'application/json' },
        idempotent: true,
        what: `aborting the multipart upload of ${JSON.stringify(request.name)}`,
      })
      .then((response) => response.body.dump())
      .catch(() => undefined);
  };

  try {
    const parts = await uploadParts(client, request, credentials, what, uploadId === null);
    const response = await client.send('POST', multipartUrl(request.apiBase, 'complete', request.dir), {
      body: json({
        path: request.name,
        ...(uploadId === null ? {} : { upload_id: uploadId }),
        parts: parts.map((part) => ({ part_number: part.partNumber, etag: part.etag, url: part.url })),
      }),
      headers: { 'content-type': 'application/json' },
      idempotent: true,
      what: `completing the multipart upload of ${JSON.stringify(request.name)}`,
      ...signal,
    });
    await response.body.dump();
    return true;
  } catch (error) {
    await abort();
    throw error;
  }
}

async function uploadParts(
  client: HttpClient,
  request: MultipartRequest,
  credentials: Credential[],
  what: string,
  blockStore: boolean,
): Promise<Array<{ partNumber: number; etag: string; url: string }>> {
  const reader = new PartReader(request.body);
  const results: Array<{ partNumber: number; etag: string; url: string }> = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    for (let index = 0; index < credentials.length && failure === undefined; index++) {
      // Read the next part only when a slot is free: at most `concurrency` parts live in memory.
      while (inFlight.size >= request.concurrency && failure === undefined) await Promise.race(inFlight);
      if (failure !== undefined) break;
      const expected = Math.min(request.chunkSize, request.size - index * request.chunkSize);
      const bytes = await reader.read(expected);
      if (bytes.length !== expected) {
        throw new ArtifactsError(
          'integrity',
          `${what}: the body ended after ${reader.total} bytes, ${request.size} were announced`,
        );
      }
      const credential = credentials[index]!;
      const task = putPart(client, credential, bytes, what, blockStore, request.signal).then(
        (etag) => {
          results.push({ partNumber: credential.partNumber, etag, url: credential.url });
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
  } catch (error) {
    failure ??= error;
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  if (!(await reader.ended())) {
    throw new ArtifactsError(
      'integrity',
      `${what}: the body is longer than the ${request.size} bytes announced`,
    );
  }
  return results.sort((a, b) => a.partNumber - b.partNumber);
}

async function putPart(
  client: HttpClient,
  credential: Credential,
  bytes: Buffer,
  what: string,
  blockStore: boolean,
  signal: AbortSignal | undefined,
): Promise<string> {
  // Straight to storage: the presigned URL is the credential; the server's are never sent there.
  const response = await client.send('PUT', credential.url, {
    body: bytes,
    headers: { ...credential.headers, 'content-length': String(bytes.length) },
    credentials: false,
    idempotent: true,
    what: `${what}: part ${credential.partNumber}`,
    ...(signal ? { signal } : {}),
  });
  await response.body.dump();
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

import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  chunkedUpload,
  discardBody,
  type engineOptions,
  headerString,
  type MlflowHttpClient,
  type PartLimits,
} from '@artifacts/core';
import { multipartUrl } from '../endpoint.js';

/** MLflow's client falls back to one PUT when the server's 501 message starts with this. */
export const MPU_UNSUPPORTED = 'Multipart upload is not supported for the current artifact repository';

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
  /** Each part's stall bound and retries, the signal and the heartbeat (core's `engineOptions`). */
  engine: ReturnType<typeof engineOptions>;
}

/** The server hands out the part URLs: the part size is the client's chunk size, whatever the count. */
const SERVER_LIMITS: PartLimits = {
  maxParts: Number.MAX_SAFE_INTEGER,
  minPartSize: 1,
  maxPartSize: Number.MAX_SAFE_INTEGER,
};

const DOING = { create: 'starting', complete: 'completing', abort: 'aborting' } as const;

/**
 * Uploads through the server's mpu/* routes, with core's chunked-upload engine: create (presigned
 * part URLs), PUT every part straight to storage — `concurrency` at a time, from a fixed pool of
 * part buffers, each part retried on its own — with the client's TLS settings, then complete with
 * the parts' ETags. Any failure aborts the upload. Returns false, having consumed nothing, when the
 * server's destination has no multipart support.
 */
export async function uploadMultipart(client: MlflowHttpClient, request: MultipartRequest): Promise<boolean> {
  const { name, size, engine } = request;
  const numParts = Math.max(1, Math.ceil(size / request.chunkSize));
  const what = `uploading ${JSON.stringify(name)} in ${numParts} parts`;
  const post = (action: keyof typeof DOING, body: object, signal: AbortSignal | undefined) =>
    client.json<{ upload_id?: unknown; credentials?: unknown }>(
      'POST',
      multipartUrl(request.apiBase, action, request.dir),
      {
        body: JSON.stringify({ path: name, ...body }),
        headers: { 'content-type': 'application/json' },
        what: `${DOING[action]} the multipart upload of ${JSON.stringify(name)}`,
        ...(signal ? { signal } : {}),
      },
    );
  let created: Awaited<ReturnType<typeof post>>;
  try {
    created = await post('create', { num_parts: numParts }, engine.signal);
  } catch (error) {
    if (ArtifactsError.is(error, 'unsupported') && error.message.includes(MPU_UNSUPPORTED)) return false;
    throw error;
  }
  // Without an upload id the destination is a block store (Azure): the part URL names the block,
  // the commit lists blocks by number, and Put Block answers without an ETag (MLflow sends '').
  const withId = typeof created.upload_id === 'string' ? { upload_id: created.upload_id } : {};
  const blockStore = !('upload_id' in withId);
  const credentials = parseCredentials(created.credentials, numParts);
  let sent = 0;
  await chunkedUpload(
    request.body,
    {
      // Created above: the server must first say whether it supports multipart at all.
      create: async () => {},
      uploadPart: async (part) => {
        const credential = credentials[part.partNumber - 1];
        if (!credential) {
          throw new ArtifactsError(
            'integrity',
            `${what}: the body is longer than the ${size} bytes announced`,
          );
        }
        // Straight to storage: the presigned URL is the credential; the server's are never sent
        // there. The engine retries the part, with a fresh stream of its buffer.
        const response = await client.send('PUT', credential.url, {
          body: part.body(),
          headers: { ...credential.headers, 'content-length': String(part.data.length) },
          credentials: false,
          what: `${what}: part ${credential.partNumber}`,
          signal: part.signal,
        });
        await discardBody(response.body);
        const etag = headerString(response.headers.etag) || (blockStore ? '' : undefined);
        if (etag === undefined) {
          throw new ArtifactsError(
            'unavailable',
            `${what}: storage accepted part ${credential.partNumber} without an ETag header (is ETag exposed by its CORS/proxy settings?)`,
          );
        }
        return { part_number: credential.partNumber, etag, url: credential.url };
      },
      complete: async (parts, context) => {
        if (sent !== size) {
          throw new ArtifactsError(
            'integrity',
            `${what}: the body ended after ${sent} bytes, ${size} were announced`,
          );
        }
        await post('complete', { ...withId, parts }, context.signal);
      },
      abort: async (context) => {
        await post('abort', withId, context.signal);
      },
    },
    {
      partSize: request.chunkSize,
      concurrency: request.concurrency,
      limits: SERVER_LIMITS,
      size,
      ...engine,
      onData: (data) => {
        sent += data.length;
      },
      what,
    },
  );
  return true;
}

function parseCredentials(raw: unknown, numParts: number) {
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
      const given = typeof c.headers === 'object' && c.headers !== null ? c.headers : {};
      for (const [header, value] of Object.entries(given as Record<string, unknown>)) {
        if (typeof value === 'string') headers[header.toLowerCase()] = value;
      }
      return { url: c.url, partNumber, headers };
    })
    .sort((a, b) => a.partNumber - b.partNumber);
}

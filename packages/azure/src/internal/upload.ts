import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  answerHeader,
  type ChunkedUploadOptions,
  chunkedUpload,
  type DriverWriteResult,
  type PartLimits,
  type PartRequest,
  type SentBody,
  type StoreHttp,
} from '@artifacts/core';
import { blobPath } from './lean.js';

/** Azure's block blob limits: 50,000 blocks of at most 4,000 MiB. */
export const AZURE_BLOCK_LIMITS: PartLimits = {
  maxParts: 50_000,
  minPartSize: 1,
  maxPartSize: 4000 * 1024 * 1024,
};

/** Put Block List: commits the staged blocks (each the latest version under its id) as the blob. */
export async function commitBlocks(
  http: StoreHttp,
  path: string,
  ids: readonly string[],
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  let xml = '<?xml version="1.0" encoding="utf-8"?><BlockList>';
  for (const id of ids) xml += `<Latest>${id}</Latest>`;
  const body = Buffer.from(`${xml}</BlockList>`);
  await http.drain({
    method: 'PUT',
    path,
    query: [['comp', 'blocklist']],
    headers: { 'content-length': String(body.length), 'content-type': 'application/xml', ...headers },
    body,
    signal,
  });
}

export interface BlockUpload {
  container: string;
  blob: string;
  contentType: string | undefined;
  /** Per-block `Content-MD5` and the blob's MD5 recorded at commit. */
  md5: boolean;
  /** Core's chunked-upload engine's settings (part size, concurrency, size, limits, timeouts). */
  engine: Omit<ChunkedUploadOptions, 'digest' | 'partDigest' | 'onSent'>;
  /** Runs one request, its errors mapped. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * A block blob upload through core's chunked-upload engine: a body of at most one block is one Put
 * Blob; a larger one is staged as blocks and committed with Put Block List, nothing visible before.
 * The engine's MD5 of the whole body (`digest`) is the blob's recorded MD5 (later downloads are
 * verified against it), a single Put Blob's Content-MD5, and what core compares with the service's.
 */
export async function uploadBlob(
  http: StoreHttp,
  body: Readable,
  upload: BlockUpload,
): Promise<DriverWriteResult | undefined> {
  const path = blobPath(upload.container, upload.blob);
  const md5 = (sent: SentBody | undefined, header: string) =>
    sent ? { [header]: sent.checksum.value } : undefined;
  // A random prefix per upload: two writers of the same name never commit each other's blocks.
  const nonce = randomBytes(12).toString('hex');
  const type: Record<string, string> = upload.contentType
    ? { 'x-ms-blob-content-type': upload.contentType }
    : {};
  const { run } = upload;
  const put = (part: PartRequest, query: [string, string][], headers: Record<string, string>) =>
    http.drain({
      method: 'PUT',
      path,
      query,
      headers: { 'content-length': String(part.data.length), ...headers },
      body: part.payload(),
      signal: part.signal,
    });
  let sent: SentBody | undefined;
  const serviceMd5 = await run(() =>
    chunkedUpload<string, string | undefined>(
      body,
      {
        // The service checks the Content-MD5 it is sent and answers the MD5 it stored.
        putWhole: (part) =>
          run(async () => {
            const headers = { 'x-ms-blob-type': 'BlockBlob', ...type, ...md5(part.sent, 'content-md5') };
            const answer = await put(part, [], headers);
            return upload.md5 ? answerHeader(answer, 'content-md5') : undefined;
          }),
        // Block blobs need no start: staged blocks stay invisible until the commit.
        create: async () => {},
        // Each block's Content-MD5 makes the service check the bytes it stages: the blob's MD5
        // recorded at the commit is ours, which it does not check.
        uploadPart: (part) =>
          run(async () => {
            const id = Buffer.from(`${nonce}-${String(part.partNumber).padStart(6, '0')}`).toString('base64');
            const query: [string, string][] = [
              ['comp', 'block'],
              ['blockid', id],
            ];
            await put(part, query, part.digest ? { 'content-md5': part.digest } : {});
            return id;
          }),
        complete: (ids, context) =>
          run(async () => {
            const headers = { ...type, ...md5(context.sent, 'x-ms-blob-content-md5') };
            await commitBlocks(http, path, ids, headers, context.signal);
            return undefined;
          }),
        // Uncommitted blocks cannot be deleted one by one; the service discards them.
        abort: async () => {},
      },
      {
        ...upload.engine,
        ...(upload.md5 ? { digest: 'md5' as const, partDigest: 'md5' as const } : {}),
        onSent: (whole) => {
          sent = whole;
        },
      },
    ),
  );
  if (!sent) return undefined;
  return { ...(serviceMd5 ? { checksum: { algorithm: 'md5', value: serviceMd5 } } : {}), sent };
}

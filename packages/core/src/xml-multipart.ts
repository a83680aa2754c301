import type { MultipartCapability } from './driver.js';
import { ArtifactsError } from './errors.js';
import { guessContentType } from './repository/transfers.js';
import { presignSeconds, sortedParts } from './signing.js';
import { partCredentials } from './store-driver.js';

/**
 * The XML multipart protocol S3 and GCS's XML API share: CreateMultipartUpload (`POST ?uploads`,
 * answered with an `UploadId`), parts PUT with `?partNumber&uploadId`, CompleteMultipartUpload
 * (`POST ?uploadId` listing the parts) and AbortMultipartUpload (`DELETE ?uploadId`); and the proxied
 * multipart capability (presigned part URLs) built on it. Addressing, signing and the XML parser
 * stay the store's: it hands over a `send` bound to one object.
 */

/** One request of the protocol on the upload's object. */
export interface XmlMultipartRequest {
  method: 'POST' | 'DELETE';
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Sends a request on one object: its answer's XML document, parsed (`{}` for an empty body). */
export type XmlMultipartSend = (request: XmlMultipartRequest) => Promise<Record<string, unknown>>;

/** A part as CompleteMultipartUpload lists it, with the checksums S3 reported for it. */
export interface XmlPart {
  PartNumber: number;
  ETag: string | undefined;
  ChecksumCRC32?: string;
  ChecksumCRC32C?: string;
  ChecksumSHA256?: string;
}

/** XML text content: `&`, `<` and `>` escaped. */
export const escapeXml = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** CreateMultipartUpload with the object's headers; its UploadId (`where` names the object in the error). */
export async function createXmlMultipart(
  send: XmlMultipartSend,
  headers: Record<string, string>,
  where: string,
): Promise<string> {
  const answer = await send({ method: 'POST', query: { uploads: '' }, headers });
  const id = (answer.InitiateMultipartUploadResult as { UploadId?: unknown } | undefined)?.UploadId;
  if (typeof id !== 'string' || id === '')
    throw new ArtifactsError('internal', `the store returned no UploadId for ${where}`);
  return id;
}

/** CompleteMultipartUpload of the parts, in the order given; the answer's text members (S3's checksum). */
export async function completeXmlMultipart(
  send: XmlMultipartSend,
  uploadId: string,
  parts: readonly XmlPart[],
  headers: Record<string, string> = {},
): Promise<Record<string, string>> {
  const members = ['ETag', 'ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumSHA256'] as const;
  const xml = parts
    .map((part) => {
      let fields = `<PartNumber>${part.PartNumber}</PartNumber>`;
      for (const member of members) {
        const value = part[member];
        if (value !== undefined) fields += `<${member}>${escapeXml(value)}</${member}>`;
      }
      return `<Part>${fields}</Part>`;
    })
    .join('');
  const body = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${xml}</CompleteMultipartUpload>`,
  );
  const answer = await send({
    method: 'POST',
    query: { uploadId },
    headers: { 'content-type': 'application/xml', 'content-length': String(body.length), ...headers },
    body,
  });
  const done = (answer.CompleteMultipartUploadResult ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(done).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

/** AbortMultipartUpload. */
export async function abortXmlMultipart(send: XmlMultipartSend, uploadId: string): Promise<void> {
  await send({ method: 'DELETE', query: { uploadId }, headers: {} });
}

/** What a store gives for the proxied multipart uploads of its driver. */
export interface XmlMultipartSpec {
  /** The requests on the object of an artifact key, under `signal`. */
  send(key: string, signal?: AbortSignal): XmlMultipartSend;
  /** How messages name the object of `key` (`s3://bucket/name`). */
  describe(key: string): string;
  /** Headers of CreateMultipartUpload besides the content type guessed from the key (upload arguments). */
  createHeaders?: Record<string, string>;
  /** The presigned URL of one part's PUT, valid `expiresInSeconds`. */
  partUrl(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string>;
  /** Headers a client must send with each part (signed into its URL: S3's SSE-C). */
  partHeaders?: Record<string, string>;
  /** Whether an abort's failure means the upload is already gone (completed, aborted, expired). */
  gone(error: unknown): boolean;
  /** Runs one call of `key`, its failure mapped by the driver (`action`: what failed). */
  run<T>(action: string, key: string, call: () => Promise<T>): Promise<T>;
}

/**
 * Proxied multipart uploads (the proxy's `mpu/*` routes, MLflow's S3 and GCS multipart): created
 * here, the parts PUT by the client through presigned URLs, completed with their ETags (quoted, as
 * the stores list them) in part order, or aborted. A failure signing the part URLs aborts the upload
 * just created; aborting an upload already gone succeeds (the state the caller asked for).
 */
export function xmlMultipartCapability(spec: XmlMultipartSpec): MultipartCapability {
  const { run } = spec;
  const needsId = (key: string) =>
    ArtifactsError.invalidArgument(`a multipart upload of ${spec.describe(key)} needs its upload_id`);
  const abort: MultipartCapability['abort'] = async (key, uploadId, options = {}) => {
    if (!uploadId) throw needsId(key);
    await run('aborting a multipart upload', key, async () => {
      try {
        await abortXmlMultipart(spec.send(key, options.signal), uploadId);
      } catch (error) {
        if (!spec.gone(error)) throw error;
      }
    });
  };
  return {
    async create(key, options) {
      // Refused before an upload is started that nobody could finish.
      const seconds = presignSeconds(options.expiresInSeconds);
      const headers = { 'content-type': guessContentType(key), ...spec.createHeaders };
      const uploadId = await run('starting a multipart upload', key, () =>
        createXmlMultipart(spec.send(key, options.signal), headers, spec.describe(key)),
      );
      try {
        const url = (n: number) => run('presigning', key, () => spec.partUrl(key, uploadId, n, seconds));
        return { uploadId, credentials: await partCredentials(options.numParts, url, spec.partHeaders) };
      } catch (error) {
        await abort(key, uploadId, {}).catch(() => undefined);
        throw error;
      }
    },
    async complete(key, uploadId, parts, options = {}) {
      if (!uploadId) throw needsId(key);
      const listed = sortedParts(parts).map((part) => ({
        PartNumber: part.partNumber,
        ETag: part.etag.startsWith('"') ? part.etag : `"${part.etag}"`,
      }));
      await run('completing a multipart upload', key, () =>
        completeXmlMultipart(spec.send(key, options.signal), uploadId, listed),
      );
    },
    abort,
  };
}

/**
 * One multipart upload of the protocol, its UploadId kept between the calls core's engines make
 * (`chunkedUpload`'s create, parts, complete or abort; `copyInParts`'s): `send` gives the object's
 * requests under a call's signal; an upload whose create failed has nothing to abort.
 */
export function xmlUpload(send: (signal?: AbortSignal) => XmlMultipartSend, where: string) {
  let uploadId: string | undefined;
  return {
    /** The UploadId of the started upload. */
    get id(): string {
      if (uploadId === undefined)
        throw new ArtifactsError('internal', `no multipart upload of ${where} was started`);
      return uploadId;
    },
    async create(headers: Record<string, string>, signal?: AbortSignal): Promise<void> {
      uploadId = await createXmlMultipart(send(signal), headers, where);
    },
    complete(parts: readonly XmlPart[], headers: Record<string, string> = {}, signal?: AbortSignal) {
      return completeXmlMultipart(send(signal), this.id, parts, headers);
    },
    async abort(signal?: AbortSignal): Promise<void> {
      if (uploadId !== undefined) await abortXmlMultipart(send(signal), uploadId);
    },
  };
}

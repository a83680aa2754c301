import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import {
  completeXmlMultipart,
  createXmlMultipart,
  type XmlMultipartRequest,
  type XmlMultipartSpec,
  xmlMultipartCapability,
  xmlUpload,
} from './xml-multipart.js';

/** A store that records each request and answers it with `answer`. */
function store(answer: (request: XmlMultipartRequest) => Record<string, unknown> = () => ({})) {
  const sent: Array<XmlMultipartRequest & { key: string }> = [];
  const spec: XmlMultipartSpec = {
    send: (key) => async (request) => {
      sent.push({ ...request, key });
      return answer(request);
    },
    describe: (key) => `s3://b/${key}`,
    createHeaders: { 'x-amz-acl': 'private' },
    partUrl: async (key, uploadId, n, seconds) =>
      `https://h/${key}?partNumber=${n}&uploadId=${uploadId}&x=${seconds}`,
    partHeaders: { 'x-sse': 'k' },
    gone: (error) => (error as { code?: string }).code === 'gone',
    run: (_action, _key, call) => call(),
  };
  return { sent, spec };
}

const created = { InitiateMultipartUploadResult: { UploadId: 'U1' } };

describe('the XML multipart protocol', () => {
  it('create: POST ?uploads with the headers; the UploadId, or an internal error without one', async () => {
    const { sent, spec } = store(() => created);
    expect(await createXmlMultipart(spec.send('k'), { 'content-type': 'a/b' }, 's3://b/k')).toBe('U1');
    expect(sent[0]).toMatchObject({
      method: 'POST',
      query: { uploads: '' },
      headers: { 'content-type': 'a/b' },
    });
    const empty = store(() => ({ InitiateMultipartUploadResult: { UploadId: '' } }));
    await expect(createXmlMultipart(empty.spec.send('k'), {}, 's3://b/k')).rejects.toMatchObject({
      code: 'internal',
      message: 'the store returned no UploadId for s3://b/k',
    });
  });

  it('complete: the parts listed in the order given, text escaped, checksums kept; the answer members', async () => {
    const { sent, spec } = store(() => ({
      CompleteMultipartUploadResult: { ChecksumCRC32: 'AAAA', ChecksumType: 'FULL_OBJECT', Nested: {} },
    }));
    const done = await completeXmlMultipart(
      spec.send('k'),
      'U 1',
      [
        { PartNumber: 1, ETag: '"a<&>"', ChecksumCRC32: 'x' },
        { PartNumber: 2, ETag: undefined },
      ],
      { 'x-amz-checksum-type': 'FULL_OBJECT' },
    );
    expect(done).toEqual({ ChecksumCRC32: 'AAAA', ChecksumType: 'FULL_OBJECT' });
    const body = sent[0]!.body!.toString();
    expect(sent[0]).toMatchObject({
      method: 'POST',
      query: { uploadId: 'U 1' },
      headers: {
        'content-type': 'application/xml',
        'content-length': String(body.length),
        'x-amz-checksum-type': 'FULL_OBJECT',
      },
    });
    expect(body).toContain(
      '<Part><PartNumber>1</PartNumber><ETag>"a&lt;&amp;&gt;"</ETag><ChecksumCRC32>x</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>',
    );
  });
});

describe('xmlMultipartCapability', () => {
  it('create: the lifetime checked before any request, then the upload and one URL per part', async () => {
    const { sent, spec } = store(() => created);
    const capability = xmlMultipartCapability(spec);
    await expect(capability.create('d.bin', { numParts: 2, expiresInSeconds: 0 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(sent).toHaveLength(0);
    const upload = await capability.create('d.bin', { numParts: 2, expiresInSeconds: 60 });
    expect(sent[0]!.headers).toEqual({ 'content-type': 'application/octet-stream', 'x-amz-acl': 'private' });
    expect(upload).toEqual({
      uploadId: 'U1',
      credentials: [1, 2].map((partNumber) => ({
        partNumber,
        url: `https://h/d.bin?partNumber=${partNumber}&uploadId=U1&x=60`,
        headers: { 'x-sse': 'k' },
      })),
    });
  });

  it('create: a part URL that cannot be signed aborts the upload just started', async () => {
    const { sent, spec } = store(() => created);
    const capability = xmlMultipartCapability({
      ...spec,
      partUrl: async () => {
        throw new ArtifactsError('permission_denied', 'no signing');
      },
    });
    await expect(capability.create('d.bin', { numParts: 1 })).rejects.toThrow('no signing');
    expect(sent.map((r) => [r.method, r.query])).toEqual([
      ['POST', { uploads: '' }],
      ['DELETE', { uploadId: 'U1' }],
    ]);
  });

  it('complete: parts sorted, ETags quoted; a repeated part or a missing upload id refused', async () => {
    const { sent, spec } = store();
    const capability = xmlMultipartCapability(spec);
    await capability.complete('d.bin', 'U1', [
      { partNumber: 2, etag: 'e2' },
      { partNumber: 1, etag: '"e1"' },
    ]);
    expect(sent[0]!.body!.toString()).toContain(
      '<Part><PartNumber>1</PartNumber><ETag>"e1"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"e2"</ETag></Part>',
    );
    await expect(capability.complete('d.bin', null, [])).rejects.toMatchObject({
      code: 'invalid_argument',
      message: 'a multipart upload of s3://b/d.bin needs its upload_id',
    });
    const twice = [1, 1].map((partNumber) => ({ partNumber, etag: 'e' }));
    await expect(capability.complete('d.bin', 'U1', twice)).rejects.toThrow(
      'each part number may appear only once',
    );
  });

  it('abort: DELETE ?uploadId; an upload already gone is aborted, any other failure is not', async () => {
    let failure: unknown;
    const { sent, spec } = store(() => {
      if (failure) throw failure;
      return {};
    });
    const capability = xmlMultipartCapability(spec);
    await capability.abort('d.bin', 'U1');
    expect(sent[0]).toMatchObject({ method: 'DELETE', query: { uploadId: 'U1' }, key: 'd.bin' });
    failure = Object.assign(new Error('gone'), { code: 'gone' });
    await capability.abort('d.bin', 'U1');
    failure = new Error('refused');
    await expect(capability.abort('d.bin', 'U1')).rejects.toThrow('refused');
  });
});

describe('xmlUpload', () => {
  it('keeps the UploadId between create, complete and abort, each under its own signal', async () => {
    const seen: Array<[string, Record<string, string>, AbortSignal | undefined]> = [];
    const signal = new AbortController().signal;
    const upload = xmlUpload(
      (s) => async (request) => {
        seen.push([request.method, request.query, s]);
        return request.query.uploads === '' ? { InitiateMultipartUploadResult: { UploadId: 'u1' } } : {};
      },
      's3://b/k',
    );
    expect(() => upload.id).toThrow(/no multipart upload of s3:\/\/b\/k was started/);
    // Nothing started: nothing to abort.
    await upload.abort();
    expect(seen).toEqual([]);
    await upload.create({}, signal);
    expect(upload.id).toBe('u1');
    await upload.complete([{ PartNumber: 1, ETag: '"e"' }], {}, signal);
    await upload.abort();
    expect(seen).toEqual([
      ['POST', { uploads: '' }, signal],
      ['POST', { uploadId: 'u1' }, signal],
      ['DELETE', { uploadId: 'u1' }, undefined],
    ]);
  });
});

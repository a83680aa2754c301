import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EMPTY_SHA256, payloadSha256, SigV4, sigV4ByRegion } from './sigv4.js';

/** The credentials, day and bucket of the examples in S3's SigV4 documentation ("sig-v4-header-based-auth"). */
const s3Docs = {
  credentials: {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  },
  now: new Date('2013-05-24T00:00:00Z'),
  host: 'examplebucket.s3.amazonaws.com',
};

/** AWS's published signature test suite (aws-sig-v4-test-suite): service `service`, us-east-1. */
const suite = {
  credentials: {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  },
  now: new Date('2015-08-30T12:36:00Z'),
};

describe("SigV4: AWS's published examples", () => {
  const s3 = new SigV4('us-east-1');
  const signS3 = (method: string, path: string, query: Array<[string, string]>, headers: object) =>
    s3.sign(
      { method, path, query, headers: { host: s3Docs.host, ...headers } },
      s3Docs.credentials,
      s3Docs.now,
    ).authorization;
  const credential = 'Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request';

  it('GET Object with a range', () => {
    expect(signS3('GET', '/test.txt', [], { range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256 })).toBe(
      `AWS4-HMAC-SHA256 ${credential}, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41`,
    );
  });

  it('PUT Object with its payload hash, a Date header and an encoded path', () => {
    const headers = {
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    };
    expect(signS3('PUT', '/test%24file.text', [], headers)).toBe(
      `AWS4-HMAC-SHA256 ${credential}, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd`,
    );
  });

  it('GET Bucket lifecycle (an empty query value) and a listing (query pairs sorted)', () => {
    const headers = { 'x-amz-content-sha256': EMPTY_SHA256 };
    expect(signS3('GET', '/', [['lifecycle', '']], headers)).toContain(
      'Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    );
    expect(
      signS3(
        'GET',
        '/',
        [
          ['prefix', 'J'],
          ['max-keys', '2'],
        ],
        headers,
      ),
    ).toContain('Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it("the test suite's get-vanilla and get-vanilla-query-order-key-case, the payload given apart", () => {
    const signer = new SigV4('us-east-1', 'service');
    const sign = (query: Array<[string, string]>) =>
      signer.sign(
        {
          method: 'GET',
          path: '/',
          query,
          headers: { host: 'example.amazonaws.com' },
          payload: EMPTY_SHA256,
        },
        suite.credentials,
        suite.now,
      );
    const vanilla = sign([]);
    expect(vanilla['x-amz-date']).toBe('20150830T123600Z');
    expect(vanilla.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
    expect(
      sign([
        ['Param2', 'value2'],
        ['Param1', 'value1'],
      ]).authorization,
    ).toContain('Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
  });
});

describe('SigV4', () => {
  const request = { method: 'GET', path: '/b/k', query: [], headers: { host: 'h' } };

  it('adds the session token as a signed header', () => {
    const signed = new SigV4('us-east-1').sign(
      request,
      { ...suite.credentials, sessionToken: 'token' },
      suite.now,
    );
    expect(signed['x-amz-security-token']).toBe('token');
    expect(signed.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token,');
  });

  it('derives the signing key again when the day or the secret changes', () => {
    const signer = new SigV4('us-east-1');
    const first = signer.sign(request, suite.credentials, suite.now).authorization;
    expect(signer.sign(request, suite.credentials, suite.now).authorization).toBe(first);
    const nextDay = new Date(suite.now.getTime() + 86_400_000);
    expect(signer.sign(request, suite.credentials, nextDay).authorization).toContain(
      '/20150831/us-east-1/s3/aws4_request',
    );
    const rotated = signer.sign(request, { ...suite.credentials, secretAccessKey: 'other' }, suite.now);
    expect(rotated.authorization).not.toBe(first);
    expect(signer.sign(request, suite.credentials, suite.now).authorization).toBe(first);
  });

  it('presigns: the signature members in the query, every header signed, the token in the query', () => {
    const query = new URLSearchParams(
      new SigV4('eu-west-3').presign(
        { ...request, headers: { host: 'h', 'x-amz-meta-a': '1' } },
        { ...suite.credentials, sessionToken: 's/t+1' },
        600,
        suite.now,
      ),
    );
    expect(Object.fromEntries(query)).toMatchObject({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIDEXAMPLE/20150830/eu-west-3/s3/aws4_request',
      'X-Amz-Date': '20150830T123600Z',
      'X-Amz-Expires': '600',
      'X-Amz-SignedHeaders': 'host;x-amz-meta-a',
      'X-Amz-Security-Token': 's/t+1',
    });
    expect(query.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('payloadSha256 and sigV4ByRegion', () => {
  it("hashes a body's bytes (none: the empty payload's); a stream stays UNSIGNED-PAYLOAD", () => {
    const bytes = Buffer.from('part bytes');
    expect(payloadSha256(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(payloadSha256(new Uint8Array(bytes))).toBe(payloadSha256(bytes));
    expect(payloadSha256(undefined)).toBe(EMPTY_SHA256);
    expect(payloadSha256(Buffer.alloc(0))).toBe(EMPTY_SHA256);
    expect(payloadSha256(Readable.from([bytes]))).toBe('UNSIGNED-PAYLOAD');
  });

  it("keeps one signer per region, each signing for its own region's scope", () => {
    const signers = sigV4ByRegion();
    expect(signers('eu-west-3')).toBe(signers('eu-west-3'));
    expect(signers('us-east-1')).not.toBe(signers('eu-west-3'));
    const request = { method: 'GET', path: '/b/k', query: [], headers: { host: 'h' } };
    expect(signers('eu-west-3').sign(request, suite.credentials, suite.now).authorization).toContain(
      '/20150830/eu-west-3/s3/aws4_request',
    );
    expect(
      sigV4ByRegion('sts')('us-east-1').sign(request, suite.credentials, suite.now).authorization,
    ).toContain('/20150830/us-east-1/sts/aws4_request');
  });
});

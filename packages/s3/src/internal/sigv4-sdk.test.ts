import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { encodeRfc3986, SigV4 } from '@artifacts/core';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';

/** SHA-256 / HMAC-SHA-256 in the shape the SDK's signer takes (`@smithy/hash-node`'s `Hash`). */
class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: unknown) {
    this.#hash =
      secret === undefined ? createHash('sha256') : createHmac('sha256', secret as string | Uint8Array);
  }
  update(data: string | Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const now = new Date('2026-11-30T17:40:05.123Z');

/** The SDK's own signer on the same request: the reference our signature must equal. */
async function reference(
  request: { method: string; path: string; query: Record<string, string>; headers: Record<string, string> },
  creds: typeof credentials & { sessionToken?: string },
  region: string,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: creds,
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { ...request, protocol: 'http:', hostname: '127.0.0.1', port: 9000 },
    { signingDate: now },
  );
  return signed.headers;
}

describe('SigV4', () => {
  const cases: Array<{
    method: string;
    path: string;
    query: Record<string, string>;
    headers: Record<string, string>;
  }> = [
    {
      method: 'GET',
      path: '/bucket/dir/a%20b%2Bc.bin',
      query: {},
      headers: { host: '127.0.0.1:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', range: 'bytes=0-9' },
    },
    {
      method: 'PUT',
      path: '/bucket/k',
      query: { uploadId: 'abc/d e+f', partNumber: '3' },
      headers: {
        host: '127.0.0.1:9000',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'content-length': '5',
        'x-amz-checksum-crc32': 'NhCmhg==',
        'content-type': '  text/plain;   charset=utf-8 ',
      },
    },
  ];
  for (const request of cases) {
    for (const creds of [credentials, { ...credentials, sessionToken: 'session-token' }]) {
      it(`signs ${request.method} ${request.path}${creds === credentials ? '' : ' with a session token'} as the SDK does`, async () => {
        const ours = new SigV4('eu-west-3').sign(
          {
            ...request,
            query: Object.entries(request.query).map(
              ([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const,
            ),
          },
          creds,
          now,
        );
        const theirs = await reference(request, creds, 'eu-west-3');
        expect(ours.authorization).toBe(theirs.authorization);
        expect(ours['x-amz-date']).toBe(theirs['x-amz-date']);
        expect(ours['x-amz-security-token']).toBe(theirs['x-amz-security-token']);
      });
    }
  }

  it('derives the signing key again when the day or the secret changes', () => {
    const signer = new SigV4('us-east-1');
    const request = { method: 'GET', path: '/b/k', query: [], headers: { host: 'h' } };
    const first = signer.sign(request, credentials, now).authorization;
    expect(signer.sign(request, credentials, now).authorization).toBe(first);
    const nextDay = new Date(now.getTime() + 86_400_000);
    const other = signer.sign(request, credentials, nextDay).authorization;
    expect(other).toContain('/20261201/us-east-1/s3/aws4_request');
    const rotated = signer.sign(request, { ...credentials, secretAccessKey: 'other' }, now).authorization;
    expect(rotated).not.toBe(first);
    expect(signer.sign(request, credentials, now).authorization).toBe(first);
  });

  it('presigns as the SDK does: the same query, the same signature (headers signed, session token in the query)', async () => {
    const request = {
      method: 'PUT',
      path: '/bucket/dir/a%20b.bin',
      query: { partNumber: '2', uploadId: 'u/1+2' },
      headers: { host: '127.0.0.1:9000', 'x-amz-server-side-encryption-customer-algorithm': 'AES256' },
    };
    for (const creds of [credentials, { ...credentials, sessionToken: 'session/token+1' }]) {
      const ours = new SigV4('eu-west-3').presign(
        {
          ...request,
          query: Object.entries(request.query).map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const),
        },
        creds,
        600,
        now,
      );
      const signer = new SignatureV4({
        credentials: creds,
        region: 'eu-west-3',
        service: 's3',
        sha256: Sha256,
        uriEscapePath: false,
        applyChecksum: false,
      });
      // As S3's presigner asks: an unsigned payload, hoisted into the query as X-Amz-Content-Sha256.
      const headers = { ...request.headers, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' };
      const theirs = await signer.presign(
        { ...request, headers, protocol: 'http:', hostname: '127.0.0.1', port: 9000 },
        {
          signingDate: now,
          expiresIn: 600,
          unhoistableHeaders: new Set(['x-amz-server-side-encryption-customer-algorithm']),
        },
      );
      const query = new URLSearchParams(ours);
      expect(query.get('X-Amz-Signature')).toBe(theirs.query?.['X-Amz-Signature']);
      expect(Object.fromEntries(query)).toEqual({ ...request.query, ...theirs.query });
    }
  });
});

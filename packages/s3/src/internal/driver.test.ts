import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sseCHeaders } from './extra-args.js';
import { pickChecksum } from './upload.js';

describe('pickChecksum', () => {
  it('returns a whole-object checksum', () => {
    expect(pickChecksum({ ChecksumCRC32: 'AAAAAA==', ChecksumType: 'FULL_OBJECT' })).toEqual({
      algorithm: 'crc32',
      value: 'AAAAAA==',
    });
    expect(pickChecksum({ ChecksumSHA256: 'abc=' })).toEqual({ algorithm: 'sha256', value: 'abc=' });
  });

  it('ignores composite multipart checksums, which no byte stream hashes to', () => {
    expect(pickChecksum({ ChecksumCRC32: 'q2Fz1w==-3' })).toBeUndefined();
    expect(pickChecksum({ ChecksumCRC32: 'q2Fz1w==', ChecksumType: 'COMPOSITE' })).toBeUndefined();
    expect(pickChecksum({})).toBeUndefined();
  });
});

describe('sseCHeaders', () => {
  it('computes the headers a client must send with presigned SSE-C part uploads', () => {
    const key = Buffer.alloc(32, 7);
    const headers = sseCHeaders({
      SSECustomerAlgorithm: 'AES256',
      SSECustomerKey: key.toString('base64'),
    });
    expect(headers).toEqual({
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': key.toString('base64'),
      'x-amz-server-side-encryption-customer-key-md5': createHash('md5').update(key).digest('base64'),
    });
  });

  it('takes a key that is not base64 of 32 bytes as raw bytes, as the SDK does', () => {
    const raw = 'k'.repeat(32);
    expect(sseCHeaders({ SSECustomerKey: raw })['x-amz-server-side-encryption-customer-key']).toBe(
      Buffer.from(raw).toString('base64'),
    );
    expect(sseCHeaders({})).toEqual({});
  });
});

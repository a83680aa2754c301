import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c, createHasher } from './checksum.js';

describe('checksums', () => {
  it('computes CRC-32C check values from the standard test vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
  });

  it('gives the same digest however the stream is chunked', () => {
    const data = Buffer.from(Array.from({ length: 100_003 }, (_, i) => (i * 31) & 0xff));
    for (const algorithm of ['crc32c', 'crc32', 'md5', 'sha256'] as const) {
      const whole = createHasher(algorithm);
      whole.update(data);
      const parts = createHasher(algorithm);
      for (let i = 0; i < data.length; i += 7919) parts.update(data.subarray(i, i + 7919));
      expect(parts.digest()).toBe(whole.digest());
    }
    const md5 = createHasher('md5');
    md5.update(data);
    expect(md5.digest()).toBe(createHash('md5').update(data).digest('base64'));
  });

  it('encodes CRCs as base64 of the big-endian bytes, as GCS and S3 headers do', () => {
    const h = createHasher('crc32c');
    h.update(Buffer.from('123456789'));
    expect(Buffer.from(h.digest(), 'base64').toString('hex')).toBe('e3069283');
  });
});

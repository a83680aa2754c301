import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  crc32c,
  crc32cImplementation,
  crc32cJs,
  crc32Implementation,
  crcCombine,
  crcOf,
  crcText,
  createHasher,
} from './checksum.js';

describe('checksums', () => {
  it('computes CRC-32C check values from the standard test vectors, native and JavaScript alike', () => {
    // RFC 3720 (iSCSI) B.4 and the usual check value.
    const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const descending = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
    for (const crc of [crc32c, crc32cJs]) {
      expect(crc(Buffer.from('123456789'))).toBe(0xe3069283);
      expect(crc(Buffer.alloc(32))).toBe(0x8a9136aa);
      expect(crc(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
      expect(crc(ascending)).toBe(0x46dd794e);
      expect(crc(descending)).toBe(0x113fdb5c);
      expect(crc(new Uint8Array(0))).toBe(0);
    }
  });

  it('uses the native CRC-32C where @node-rs/crc32 ships a binary (Linux, macOS, Windows on x64/arm64)', () => {
    const prebuilt =
      ['linux', 'darwin', 'win32'].includes(process.platform) && ['x64', 'arm64'].includes(process.arch);
    expect(crc32cImplementation()).toBe(prebuilt ? 'native' : 'js');
  });

  it('agrees with the JavaScript CRC-32C on unaligned views of every length, whole and incremental', () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24));
    for (let length = 0; length < 300; length++) {
      const view = new Uint8Array(data.buffer, data.byteOffset + (length % 13), length);
      expect(crc32c(view)).toBe(crc32cJs(view));
    }
    let native = 0;
    let js = 0;
    for (let i = 0, step = 1; i < data.length; i += step, step = (step * 7 + 3) % 9001) {
      const part = data.subarray(i, i + step);
      native = crc32c(part, native);
      js = crc32cJs(part, js);
      expect(native).toBe(js);
    }
    expect(native).toBe(crc32cJs(data));
  });

  it('uses the native CRC-32 where @node-rs/crc32 ships a binary, equal to zlib on unaligned views and incremental splits', () => {
    const prebuilt =
      ['linux', 'darwin', 'win32'].includes(process.platform) && ['x64', 'arm64'].includes(process.arch);
    expect(crc32Implementation()).toBe(prebuilt ? 'native' : 'zlib');
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24));
    for (let length = 0; length < 300; length++) {
      const view = new Uint8Array(data.buffer, data.byteOffset + (length % 13), length);
      expect(crc32(view)).toBe(zlib.crc32(view));
    }
    let native = 0;
    let reference = 0;
    for (let i = 0, step = 1; i < data.length; i += step, step = (step * 7 + 3) % 9001) {
      const part = data.subarray(i, i + step);
      native = crc32(part, native);
      reference = zlib.crc32(part, reference);
      expect(native).toBe(reference);
    }
    expect(native).toBe(zlib.crc32(data));
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

  it("derives a body's CRC from its parts' for random splits, empty and 1-byte parts included", () => {
    // A fixed-seed generator: a failure is reproducible.
    let seed = 0x2545f491;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    // The reference is the JavaScript CRC-32C: the combined native CRCs must equal it.
    const reference = { crc32: (b: Uint8Array) => zlib.crc32(b), crc32c: crc32cJs } as const;
    for (let round = 0; round < 200; round++) {
      const lengths = Array.from({ length: 1 + (next() % 6) }, () => {
        const kind = next() % 4;
        return kind === 0 ? 0 : kind === 1 ? 1 : next() % (kind === 2 ? 64 : 70_000);
      });
      const parts = lengths.map((n) => Buffer.from(Array.from({ length: n }, () => next() & 0xff)));
      const whole = Buffer.concat(parts);
      for (const algorithm of ['crc32', 'crc32c'] as const) {
        let crc = 0;
        for (const part of parts) crc = crcCombine(algorithm, crc, crcOf(algorithm, part), part.length);
        expect(crc, `${algorithm} of parts ${lengths.join('+')}`).toBe(reference[algorithm](whole));
      }
    }
    expect(crcText(zlib.crc32(Buffer.from('123456789')))).toBe(
      Buffer.from('cbf43926', 'hex').toString('base64'),
    );
  });
});

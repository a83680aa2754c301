import { createHash, type Hash } from 'node:crypto';
import * as zlib from 'node:zlib';
import type { ChecksumAlgorithm } from '../driver.js';

/** An incremental digest whose result is base64 of the raw bytes. */
export interface Hasher {
  update(chunk: Uint8Array): void;
  digest(): string;
}

function crc32cTable(): Uint32Array {
  const table = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n]!;
    for (let k = 1; k < 8; k++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[k * 256 + n] = c >>> 0;
    }
  }
  return table;
}

let CRC32C: Uint32Array | undefined;

/** CRC-32C (Castagnoli), slicing-by-8: what GCS and S3 report and Node's crypto lacks. */
export function crc32c(chunk: Uint8Array, previous = 0): number {
  CRC32C ??= crc32cTable();
  const t = CRC32C;
  let crc = ~previous >>> 0;
  let i = 0;
  const n = chunk.length;
  while (n - i >= 8) {
    crc ^= chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 24);
    crc =
      t[7 * 256 + (crc & 0xff)]! ^
      t[6 * 256 + ((crc >>> 8) & 0xff)]! ^
      t[5 * 256 + ((crc >>> 16) & 0xff)]! ^
      t[4 * 256 + (crc >>> 24)]! ^
      t[3 * 256 + chunk[i + 4]!]! ^
      t[2 * 256 + chunk[i + 5]!]! ^
      t[256 + chunk[i + 6]!]! ^
      t[chunk[i + 7]!]!;
    i += 8;
  }
  while (i < n) crc = t[(crc ^ chunk[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

function crcHasher(step: (chunk: Uint8Array, previous: number) => number): Hasher {
  let value = 0;
  return {
    update(chunk) {
      value = step(chunk, value);
    },
    digest() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(value >>> 0);
      return out.toString('base64');
    },
  };
}

/** A streaming hasher for one of the algorithms stores report. */
export function createHasher(algorithm: ChecksumAlgorithm): Hasher {
  switch (algorithm) {
    case 'crc32c':
      return crcHasher(crc32c);
    case 'crc32':
      return crcHasher((chunk, previous) => zlib.crc32(chunk, previous));
    default: {
      const hash: Hash = createHash(algorithm);
      return {
        update: (chunk) => hash.update(chunk),
        digest: () => hash.digest('base64'),
      };
    }
  }
}

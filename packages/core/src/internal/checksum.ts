import { createHash, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';
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

/**
 * CRC-32C (Castagnoli) in JavaScript, slicing-by-8: the fallback where the native implementation
 * does not load (about a fifth of its speed).
 */
export function crc32cJs(chunk: Uint8Array, previous = 0): number {
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

type Crc = (chunk: Uint8Array, previous?: number) => number;

declare const __ARTIFACTS_CORE_FORMAT__: string | undefined;
const BUILD_FORMAT = typeof __ARTIFACTS_CORE_FORMAT__ === 'string' ? __ARTIFACTS_CORE_FORMAT__ : 'esm';

/**
 * `@node-rs/crc32`'s CRC-32C (SSE4.2/ARMv8 CRC instructions) and CRC-32 (carry-less multiplication,
 * about three times zlib's speed), prebuilt per platform; each undefined where the binary does not
 * load (a platform without a prebuilt one) or gives a wrong check value.
 */
function loadNativeCrc(name: 'crc32c' | 'crc32', check: number): Crc | undefined {
  try {
    const load = BUILD_FORMAT === 'cjs' ? require : createRequire(import.meta.url);
    const native = (load('@node-rs/crc32') as Record<string, Crc | undefined>)[name];
    if (typeof native !== 'function' || native(Buffer.from('123456789')) !== check) return undefined;
    return native;
  } catch {
    return undefined;
  }
}

const loadNativeCrc32c = () => loadNativeCrc('crc32c', 0xe3069283);

/** The CRC-32C in use, chosen on first use (core loads no binary before a CRC-32C is needed). */
let crc32cImpl: Crc | undefined;

/** Which CRC-32C implementation this process uses (loads it on first call). */
export function crc32cImplementation(): 'native' | 'js' {
  crc32cImpl ??= loadNativeCrc32c() ?? crc32cJs;
  return crc32cImpl === crc32cJs ? 'js' : 'native';
}

/**
 * Node's zlib, loaded on first use: importing `node:zlib` costs about 2 ms of CPU at every start,
 * and a process with `@node-rs/crc32` or without a CRC-32 checksum never calls it.
 */
let zlib: typeof import('node:zlib') | undefined;
const zlibCrc32: Crc = (chunk, previous = 0) => {
  zlib ??= process.getBuiltinModule('node:zlib') as typeof import('node:zlib');
  return zlib.crc32(chunk, previous);
};

/** The CRC-32 in use, chosen on first use. */
let crc32Impl: Crc | undefined;

/** The CRC-32 in use, loaded on first call. */
function crc32Current(): Crc {
  crc32Impl ??= loadNativeCrc('crc32', 0xcbf43926) ?? zlibCrc32;
  return crc32Impl;
}

/** Which CRC-32 implementation this process uses (loads it on first call). */
export function crc32Implementation(): 'native' | 'zlib' {
  return crc32Current() === zlibCrc32 ? 'zlib' : 'native';
}

/**
 * CRC-32 (ISO-HDLC, zlib's): S3's default checksum. `@node-rs/crc32`'s where it loads (S3 downloads
 * spent 8 % of their CPU in zlib's), else `zlib.crc32`; `previous` as with `zlib.crc32`.
 */
export function crc32(chunk: Uint8Array, previous = 0): number {
  return crc32Current()(chunk, previous);
}

/**
 * CRC-32C (Castagnoli): what GCS and S3 report and Node's crypto and zlib lack. `previous` is the
 * CRC of the bytes before `chunk` (incremental use), as with `zlib.crc32`.
 */
export function crc32c(chunk: Uint8Array, previous = 0): number {
  crc32cImpl ??= loadNativeCrc32c() ?? crc32cJs;
  return crc32cImpl(chunk, previous);
}

function crcHasher(step: (chunk: Uint8Array, previous: number) => number): Hasher {
  let value = 0;
  return {
    update(chunk) {
      value = step(chunk, value);
    },
    digest: () => crcText(value),
  };
}

/** The CRC of one buffer. */
export function crcOf(algorithm: 'crc32' | 'crc32c', data: Uint8Array): number {
  return algorithm === 'crc32c' ? crc32c(data) : crc32(data);
}

/** A CRC as stores write it: base64 of its four big-endian bytes. */
export function crcText(crc: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc >>> 0);
  return out.toString('base64');
}

/** A streaming hasher for one of the algorithms stores report. */
export function createHasher(algorithm: ChecksumAlgorithm): Hasher {
  switch (algorithm) {
    case 'crc32c':
      return crcHasher(crc32c);
    case 'crc32':
      return crcHasher(crc32);
    default: {
      const hash: Hash = createHash(algorithm);
      return {
        update: (chunk) => hash.update(chunk),
        digest: () => hash.digest('base64'),
      };
    }
  }
}

/** The reflected polynomials of the CRCs `crcCombine` knows. */
const CRC_POLYNOMIALS = { crc32: 0xedb88320, crc32c: 0x82f63b78 } as const;

function gf2Times(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  let v = vector >>> 0;
  for (let i = 0; v !== 0; i++, v >>>= 1) if (v & 1) sum ^= matrix[i]!;
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(matrix, matrix[n]!);
}

/**
 * The CRC of A followed by B from CRC(A), CRC(B) and B's length (zlib's `crc32_combine`): the CRCs
 * of parts read in parallel give the whole object's without reading it again.
 */
export function crcCombine(
  algorithm: 'crc32' | 'crc32c',
  crcA: number,
  crcB: number,
  lengthB: number,
): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = CRC_POLYNOMIALS[algorithm];
  for (let n = 1, row = 1; n < 32; n++, row = (row << 1) >>> 0) odd[n] = row;
  gf2Square(even, odd);
  gf2Square(odd, even);
  let crc = crcA >>> 0;
  let length = lengthB;
  do {
    gf2Square(even, odd);
    if (length % 2 === 1) crc = gf2Times(even, crc);
    length = Math.floor(length / 2);
    if (length === 0) break;
    gf2Square(odd, even);
    if (length % 2 === 1) crc = gf2Times(odd, crc);
    length = Math.floor(length / 2);
  } while (length !== 0);
  return (crc ^ crcB) >>> 0;
}

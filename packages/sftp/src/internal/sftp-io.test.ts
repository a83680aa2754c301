import { ConnectionLife } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import type { SftpConnection } from './connection.js';
import { sftpSettings } from './settings.js';
import { handleFile, readTuning } from './sftp-io.js';

const defaults = sftpSettings.resolve({}, { env: {} }).values;
const OPENSSH_MAX_READ = 261120;

describe('readTuning', () => {
  it('by default reads 255 KiB at a time, 8 in flight: the same 2 MiB as 16 WRITEs of 128 KiB', () => {
    expect(defaults).toMatchObject({ requestsPerTransfer: 16, chunkSize: 131072, readChunkSize: 261120 });
    expect(readTuning(defaults, OPENSSH_MAX_READ)).toEqual({ requests: 8, chunkSize: 261120 });
  });

  it("caps READs at the server's announced maximum, keeping the bytes in flight", () => {
    expect(readTuning(defaults, 32768)).toEqual({ requests: 16, chunkSize: 32768 });
    expect(readTuning({ ...defaults, readChunkSize: 1 << 20 }, 65536)).toEqual({
      requests: 16,
      chunkSize: 65536,
    });
  });

  it('never has more READs in flight than requestsPerTransfer, nor fewer than one', () => {
    expect(readTuning({ ...defaults, readChunkSize: 1000 }, OPENSSH_MAX_READ)).toEqual({
      requests: 16,
      chunkSize: 1000,
    });
    expect(
      readTuning({ requestsPerTransfer: 1, chunkSize: 512, readChunkSize: 261120 }, OPENSSH_MAX_READ),
    ).toEqual({ requests: 1, chunkSize: 261120 });
  });

  it('takes readChunkSize from ARTIFACTS_SFTP_READ_CHUNK_SIZE and leaves the WRITE size alone', () => {
    const { values } = sftpSettings.resolve({}, { env: { ARTIFACTS_SFTP_READ_CHUNK_SIZE: '65536' } });
    expect(values).toMatchObject({ readChunkSize: 65536, chunkSize: 131072 });
    expect(() => sftpSettings.resolve({ readChunkSize: 100 }, { env: {} })).toThrow(/readChunkSize/);
  });
});

describe('READ answers where ssh2 is not as expected', () => {
  it('are copied out of the buffer ssh2 was given, which every READ shares', async () => {
    // An SFTP client without ssh2's request table: it copies each answer into the buffer it is
    // given and calls back, as ssh2's `read` does.
    const sftp = {
      read(
        _handle: Buffer,
        buffer: Buffer,
        offset: number,
        length: number,
        position: number,
        done: (...args: unknown[]) => void,
      ) {
        buffer.fill(position % 251, offset, offset + length);
        done(undefined, length, buffer, position);
      },
    };
    const life = new ConnectionLife();
    const connection = { sftp, life, client: {}, lost: () => new Error('lost') } as unknown as SftpConnection;
    const file = handleFile(connection, Buffer.from('handle'));
    const [a, b] = await Promise.all([file.readAt(1000, 1), file.readAt(500, 2)]);
    expect(a.equals(Buffer.alloc(1000, 1))).toBe(true);
    expect(b.equals(Buffer.alloc(500, 2))).toBe(true);
  });
});

import { ConnectionLife, ConnectionPool, rangedRead } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import type { SftpConnection } from './connection.js';
import { sftpSettings } from './settings.js';
import { readTuning, SftpFileSource } from './sftp-io.js';

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

describe('SftpFileSource (reads through core ranged-read engine)', () => {
  /** A fake server holding `data`; each connection answers `answers` READs, then dies silently. */
  function server(data: Buffer, answers: number[]) {
    let mtime = 1000;
    const made: SftpConnection[] = [];
    const pool = new ConnectionPool<SftpConnection>(
      {
        async create() {
          const life = new ConnectionLife();
          let left = answers[made.length] ?? Number.POSITIVE_INFINITY;
          const sftp = {
            open: (_path: string, _flags: string, cb: (e: unknown, h?: Buffer) => void) =>
              setImmediate(() => cb(undefined, Buffer.from('handle'))),
            fstat: (_h: Buffer, cb: (e: unknown, s?: object) => void) =>
              setImmediate(() => cb(undefined, { isFile: () => true, size: data.length, mtime })),
            read: (
              _h: Buffer,
              buf: Buffer,
              off: number,
              len: number,
              pos: number,
              cb: (e: unknown, n?: number) => void,
            ) => {
              // Past its last answer the connection drops, and ssh2 never calls back.
              if (left-- <= 0) return void setImmediate(() => life.die());
              setImmediate(() => cb(undefined, data.copy(buf, off, pos, pos + Math.min(len, 25))));
            },
            close: (_h: Buffer, cb: (e?: unknown) => void) => setImmediate(() => cb()),
          };
          const connection = {
            client: {},
            sftp,
            life,
            lost: () => Object.assign(new Error('Connection lost'), { code: 'ECONNRESET' }),
            posixRename: true,
            maxReadLength: 1 << 20,
            maxWriteLength: 1 << 20,
          } as unknown as SftpConnection;
          made.push(connection);
          return connection;
        },
        destroy: () => undefined,
        life: (connection) => connection.life,
        isConnectionError: () => true,
      },
      { maxConnections: 2, operationsPerConnection: 8, idleTimeoutMs: 0, label: 'sftp://fake' },
    );
    return { pool, made, touch: () => mtime++ };
  }
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const options = { partSize: 100, concurrency: 3, what: 'reading /f', maxAttempts: 3 };

  it('reads every byte in order, a short READ read on, and gives the connection back on close', async () => {
    const { pool } = server(data, []);
    const source = new SftpFileSource(pool, '/f', '/f on sftp://fake', undefined, 40, () => undefined);
    const result = await rangedRead(source, options);
    expect(Buffer.concat(await result.stream.toArray())).toEqual(data);
    await source.close();
    expect(pool.openedConnections).toBe(1);
    expect(await pool.use(async () => 'free again')).toBe('free again');
    await pool.close();
  });

  it('resumes on a fresh connection when its connection drops mid-read', async () => {
    const { pool, made } = server(data, [12]);
    const source = new SftpFileSource(pool, '/f', '/f on sftp://fake', undefined, 40, () => undefined);
    const result = await rangedRead(source, options);
    expect(Buffer.concat(await result.stream.toArray())).toEqual(data);
    expect(made).toHaveLength(2);
    expect(made[0]!.life.dead).toBe(true);
    await source.close();
    await pool.close();
  });

  it('fails as changed when the file reopened after a drop is not the one it was reading', async () => {
    const { pool, touch } = server(data, [12]);
    const source = new SftpFileSource(pool, '/f', '/f on sftp://fake', undefined, 40, () => touch());
    const result = await rangedRead(source, options);
    await expect(result.stream.toArray()).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringContaining('the file changed while it was being read'),
    });
    await source.close();
    await pool.close();
  });
});

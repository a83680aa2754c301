import type { PipelineTuning, PositionedReads, PositionedWrites } from '@artifacts/core';
import type { SFTPWrapper } from 'ssh2';
import { SFTP_STATUS, type SftpConnection, socketOf } from './connection.js';

const SFTP_EOF = SFTP_STATUS.EOF;

type Callback<T> = (error: Error | null | undefined, value?: T) => void;

/**
 * Sends one SFTP request. Never hangs on a dead connection: ssh2 silently drops requests written to
 * a closed channel, so the connection's life fails them as soon as it is known to be gone.
 */
export function request<T = void>(
  connection: SftpConnection,
  send: (sftp: SFTPWrapper, done: Callback<T>) => void,
): Promise<T> {
  return connection.life.request<T>((done) => send(connection.sftp, done), connection.lost);
}

export const open = (c: SftpConnection, path: string, flags: 'r' | 'w') =>
  request<Buffer>(c, (s, done) => s.open(path, flags, done));
export const closeHandle = (c: SftpConnection, handle: Buffer) =>
  request(c, (s, done) => s.close(handle, done));

/**
 * The READs of a download: `readChunkSize` bytes each, capped by what the server announced, and as
 * many in flight as fit the bytes an upload keeps in flight (`requestsPerTransfer × chunkSize`: ssh2's
 * channel window is 2 MiB), never more than `requestsPerTransfer` and at least one.
 */
export function readTuning(
  settings: { requestsPerTransfer: number; chunkSize: number; readChunkSize: number },
  maxReadLength: number,
): PipelineTuning {
  const { requestsPerTransfer, chunkSize, readChunkSize } = settings;
  const size = Math.max(1, Math.min(readChunkSize, maxReadLength));
  const fit = Math.floor((requestsPerTransfer * chunkSize) / size);
  return { requests: Math.max(1, Math.min(requestsPerTransfer, fit)), chunkSize: size };
}

/**
 * An open handle as core's pipelined transfers see it: READs and WRITEs at offsets over the
 * connection's socket.
 */
export function handleFile(connection: SftpConnection, handle: Buffer): PositionedReads & PositionedWrites {
  return {
    // ssh2 copies the piece into its packet before returning, so the chunk is not retained.
    writeAt: (piece, at) =>
      request(connection, (s, done) => s.write(handle, piece, 0, piece.length, at, done)),
    readAt: (length, at) => request<Buffer>(connection, (s, done) => readAnswer(s, handle, length, at, done)),
    socket: socketOf(connection.client),
    lost: () => connection.life.dead,
    close: () => closeHandle(connection, handle),
  };
}

/** What ssh2 keeps of a request in flight (internals of its SFTP client, 1.x). */
interface PendingRequest {
  buffer?: Buffer | undefined;
  cb?: (error?: Error & { code?: unknown }, data?: Buffer) => void;
}
type SftpInternals = { _requests?: Record<number, PendingRequest>; _writeReqid?: number };

/** The buffer ssh2's `read` is given, which it no longer writes into once the request is taken over. */
let target = Buffer.alloc(0);

/**
 * One READ, answered with the bytes in the packet they arrived in. ssh2's `read` copies the answer
 * out of its SFTP packet (a buffer it allocated for that packet, or a view of the SSH packet's own
 * freshly decrypted payload, neither reused) into the caller's buffer: a 255 KiB allocation and copy
 * per READ that only feed the garbage collector. The request it just queued is taken over so that
 * its answer comes as ssh2's view of that packet; should ssh2's internals not be as expected, the
 * answer, copied into the shared `target`, is copied out at once (ssh2 calls back as it copies).
 */
function readAnswer(
  sftp: SFTPWrapper,
  handle: Buffer,
  length: number,
  at: number,
  done: Callback<Buffer>,
): void {
  if (target.length < length) target = Buffer.allocUnsafeSlow(length);
  const given = target;
  sftp.read(handle, given, 0, length, at, (error, bytesRead) =>
    done(error, Buffer.from(given.subarray(0, error ? 0 : bytesRead))),
  );
  const internals = sftp as unknown as SftpInternals;
  const pending = internals._requests?.[internals._writeReqid ?? -1];
  if (pending?.buffer?.buffer !== given.buffer || typeof pending.cb !== 'function') return;
  pending.buffer = undefined;
  pending.cb = (error, data) => {
    // EOF and a bare OK (a server's "nothing there") are an empty answer, as ssh2 has them.
    if (error && error.code !== SFTP_EOF) done(error);
    else if (data && data.length > length) done(new Error('Received more data than requested'));
    else done(undefined, data ?? Buffer.alloc(0));
  };
}

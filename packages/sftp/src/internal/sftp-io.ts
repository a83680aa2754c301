import type { PipelineTuning, PositionedReads, PositionedWrites } from '@artifacts/core';
import type { SFTPWrapper } from 'ssh2';
import { type SftpConnection, socketOf } from './connection.js';

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
    readAt: (buffer, length, at) =>
      request<number>(connection, (s, done) =>
        s.read(handle, buffer, 0, length, at, (error, bytesRead) => done(error, bytesRead)),
      ),
    socket: socketOf(connection.client),
    lost: () => connection.life.dead,
    close: () => closeHandle(connection, handle),
  };
}

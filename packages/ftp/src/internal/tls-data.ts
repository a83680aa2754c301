import { PassThrough, pipeline, type Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { Client } from 'basic-ftp';

/**
 * Resolves once the TLS handshake of `socket` has finished and its last record has left (or the
 * socket is gone): Node writes the client's Finished synchronously but counts it as in flight until
 * its next immediate, and an `end()` meanwhile shuts the TCP connection without the close_notify
 * (Node's TLSWrap skips writing while a write is in flight, then the socket is no longer writable).
 */
function handshakeFlushed(socket: unknown): Promise<void> {
  if (!(socket instanceof TLSSocket) || socket.destroyed) return Promise.resolve();
  // getFinished(): the client's Finished message, sent last in a TLS 1.3 handshake.
  const done =
    socket.getFinished() !== undefined
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const settle = () => {
            socket.off('secureConnect', settle);
            socket.off('close', settle);
            resolve();
          };
          socket.once('secureConnect', settle);
          socket.once('close', settle);
        });
  return done.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
}

/**
 * The body of an FTPS upload as basic-ftp gets it: nothing flows from `body` until the data
 * connection's TLS handshake has finished and been flushed.
 *
 * Without this an empty upload failed now and then with `tlsv1 alert decode error`: basic-ftp
 * starts the transfer as soon as the data socket knows its cipher, which under TLS 1.3 with a
 * HelloRetryRequest (Node 24 offers a post-quantum key share first; OpenSSL 3.0 servers ask again)
 * is before the handshake finished, or right as it finishes. An empty body then ends the socket in
 * the same turn, the close_notify is lost (see handshakeFlushed), and pure-ftpd's OpenSSL 3 takes
 * the bare FIN for a truncation: it answers with a decode_error alert and fails the transfer.
 * A body with data is safe on its own (its writes complete before the end), but is held the same
 * way (one rule, one immediate's wait).
 */
export function afterHandshake(body: Readable, client: Client): Readable {
  const gate = new PassThrough();
  // basic-ftp pipes the gate into the data socket once the server said 150; only then is there one.
  gate.once('resume', () => {
    void handshakeFlushed(client.ftp.dataSocket).then(() => {
      // Errors reach basic-ftp through the gate (pipeline destroys it with the body's error).
      pipeline(body, gate, () => undefined);
    });
  });
  return gate;
}

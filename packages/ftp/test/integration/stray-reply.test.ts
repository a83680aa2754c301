import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { text } from 'node:stream/consumers';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import { afterEach, expect, it } from 'vitest';
import '../../src/index.js';
import { env, unique } from './helpers.js';

// The real pure-ftpd behind a TCP proxy of its control connection, through which the test sends the
// client a line pure-ftpd cannot be asked to send: a reply while nothing was asked (a late or
// stray one). Data connections go to pure-ftpd's passive ports directly (EPSV names only a port).

const opened: ArtifactRepository[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close();
  }
  for (const close of closers.splice(0)) await close();
});

/** A control-connection proxy; `clients` are its sockets to our client, in the order they came. */
async function controlProxy(): Promise<{ port: number; clients: Socket[] }> {
  const clients: Socket[] = [];
  const server = createServer((client) => {
    clients.push(client);
    const upstream = connect(Number(env('ARTIFACTS_IT_FTP_PORT')), env('ARTIFACTS_IT_FTP_HOST'));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const client of clients) client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, clients };
}

it('a reply that comes while the control connection is idle closes it: the next operation runs on a fresh connection and is answered', async () => {
  const proxy = await controlProxy();
  const uri = unique(env('ARTIFACTS_IT_FTP_URI'), 'stray').replace(/@[^/]+\//, `@127.0.0.1:${proxy.port}/`);
  // One connection, so that the next operation would take the idle one; a stall bound that ends a
  // command whose reply never comes.
  const repo = await openRepository(uri, { maxConnections: 1, socketTimeoutMs: 3000, maxRetries: 0 });
  opened.push(repo);
  await repo.write('a.txt', 'before the stray reply');
  expect(proxy.clients).toHaveLength(1);
  // The opening line of a multi-line reply that never ends: taken as the start of the next
  // command's reply, it would swallow that reply until the stall bound.
  // Its 'close', not `once` (which rejects on 'error'): when our client ends the connection, the
  // proxy may still be piping pure-ftpd's answer to its QUIT into it (EPIPE on the proxy's socket).
  const closed = new Promise<void>((resolve) => proxy.clients[0]!.once('close', () => resolve()));
  proxy.clients[0]!.write('226-a late line from nowhere\r\n');
  // Closed at once; kept, it would take the next command (10 s: a bound only to say so).
  let timer: NodeJS.Timeout | undefined;
  const kept = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error('the control connection that got a stray reply was kept in the pool')),
      10_000,
    );
  });
  try {
    await Promise.race([closed, kept]);
  } finally {
    clearTimeout(timer);
  }
  expect(await text(await repo.openRead('a.txt'))).toBe('before the stray reply');
  expect(proxy.clients).toHaveLength(2);
});

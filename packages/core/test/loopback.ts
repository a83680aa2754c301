/**
 * Real node:http servers on loopback for core's HTTP tests (the pool, the store request path), and
 * the clients under test: each server is closed, each client destroyed, after every test of the
 * file that imports this module.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

export interface Loopback {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  server: Server;
  /** Connections the server accepted so far. */
  connections(): number;
  /** Closes the server now (its connections too): a later request is refused. */
  close(): Promise<void>;
}

const servers = new Set<Server>();
const clients: Array<{ destroy(): void }> = [];

async function closeServer(server: Server): Promise<void> {
  servers.delete(server);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of [...servers]) await closeServer(server);
});

/** A server answering with `handler` (default: nothing, ever) on a free loopback port. */
export async function serve(handler: RequestListener = () => {}): Promise<Loopback> {
  const server = createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    connections: () => connections,
    close: () => closeServer(server),
  };
}

/** `client` (a pool, a store), destroyed after the test. */
export function destroyAfterTest<T extends { destroy(): void }>(client: T): T {
  clients.push(client);
  return client;
}

/** A loopback port nothing listens on (a connection to it is refused). */
export async function closedPort(): Promise<number> {
  const { port, close } = await serve();
  await close();
  return port;
}

/** What a promise rejected with; a promise that fulfils fails the test. */
export async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFtpProxy } from './ftp-proxy.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const MiB = 1024 * 1024;
const closing: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const item of closing.splice(0)) await item.close();
});

/** A server that counts the bytes of each connection and reports the total when it ends. */
async function countingServer(): Promise<{ server: Server; port: number; received: Promise<number> }> {
  let resolve!: (n: number) => void;
  const received = new Promise<number>((r) => (resolve = r));
  const server = createServer((socket) => {
    let n = 0;
    socket.on('data', (chunk: Buffer) => (n += chunk.length));
    socket.on('end', () => {
      resolve(n);
      socket.end();
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closing.push(server);
  return { server, port: (server.address() as AddressInfo).port, received };
}

/** Sends `bytes` to host:port and destroys the socket once they are written, as basic-ftp does. */
async function sendAndDestroy(port: number, bytes: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(Buffer.alloc(bytes, 1));
  await once(socket, 'finish');
  socket.destroy();
}

async function proxy(start: Promise<TcpProxy>): Promise<TcpProxy> {
  const started = await start;
  closing.push(started);
  return started;
}

describe('startTcpProxy', () => {
  it('forwards every byte of a paced connection its client destroys right after writing', async () => {
    const { port, received } = await countingServer();
    const tcp = await proxy(startTcpProxy({ host: '127.0.0.1', port }));
    tcp.rateBytesPerSecond = 8 * MiB;
    await sendAndDestroy(tcp.port, 3 * MiB);
    expect(await received).toBe(3 * MiB);
    expect(tcp.bytesUp).toBe(3 * MiB);
  });

  it('forwards every byte of a paced connection its server destroys right after writing', async () => {
    const server = createServer((socket) => {
      socket.end(Buffer.alloc(3 * MiB, 2));
      socket.once('finish', () => socket.destroy());
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closing.push(server);
    const tcp = await proxy(
      startTcpProxy({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }),
    );
    tcp.rateBytesPerSecond = 8 * MiB;
    const client = connect(tcp.port, '127.0.0.1');
    let n = 0;
    client.on('data', (chunk: Buffer) => (n += chunk.length));
    await once(client, 'end');
    client.destroy();
    expect(n).toBe(3 * MiB);
  });

  it('routes a second address with the same pace, stall and counters', async () => {
    const first = await countingServer();
    const second = await countingServer();
    const tcp = await proxy(startTcpProxy({ host: '127.0.0.1', port: first.port }));
    const route = await tcp.route({ host: '127.0.0.1', port: second.port });
    expect(await tcp.route({ host: '127.0.0.1', port: second.port })).toEqual(route);
    tcp.stallAfter(1000);
    const sending = sendAndDestroy(route.port, 5000);
    // the first 1000 bytes pass, then nothing more (on a loaded machine they may take a while to arrive)
    for (const deadline = Date.now() + 10_000; tcp.bytesUp < 1000 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(tcp.bytesUp).toBe(1000);
    expect(tcp.stalledSince).toBeDefined();
    tcp.resume();
    await sending;
    expect(await second.received).toBe(5000);
    expect(tcp.bytesUp).toBe(5000);
  });
});

describe('startFtpProxy', () => {
  it('points passive-mode replies at routes of the proxy', async () => {
    const data = await countingServer();
    const hi = data.port >> 8;
    const lo = data.port & 255;
    const control = createServer((socket) => {
      socket.write(
        `227 Entering Passive Mode (127,0,0,1,${hi},${lo}).\r\n229 Extended (|||${data.port}|)\r\n`,
      );
      socket.on('error', () => undefined);
    });
    control.listen(0, '127.0.0.1');
    await once(control, 'listening');
    closing.push(control);
    const ftp = await proxy(
      startFtpProxy({ host: '127.0.0.1', port: (control.address() as AddressInfo).port }),
    );
    const client = connect(ftp.port, '127.0.0.1');
    let text = '';
    client.on('data', (chunk: Buffer) => (text += chunk.toString()));
    while (!text.includes('|)\r\n')) await once(client, 'data');
    client.destroy();
    const route = await ftp.route({ host: '127.0.0.1', port: data.port });
    expect(route.port).not.toBe(data.port);
    expect(text).toBe(
      `227 Entering Passive Mode (127,0,0,1,${route.port >> 8},${route.port & 255}).\r\n229 Extended (|||${route.port}|)\r\n`,
    );
    await sendAndDestroy(route.port, 1234);
    expect(await data.received).toBe(1234);
  });
});

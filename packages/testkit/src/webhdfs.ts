/**
 * WebHDFS answers every read and write with a redirect to the DataNode's own HTTP address, which a
 * client then reaches directly, past a proxy in front of the NameNode. MiniDFSCluster forces that
 * address to 127.0.0.1:<ephemeral>, so a test cannot move the DataNode behind a proxy; instead an
 * HTTP hop (between the client and the NameNode) rewrites the `Location` of those redirects to a
 * proxy in front of the DataNode. Nothing else is changed: requests, bodies and every other header
 * pass as they are, so every byte the client exchanges with either node can cross a proxy.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RedirectRewriter {
  port: number;
  close(): Promise<void>;
}

export async function startRedirectRewriter(
  upstreamPort: number,
  /** The DataNode port a redirect names → the port to name instead; undefined = unchanged. */
  rewritePort: (port: number) => number | undefined,
): Promise<RedirectRewriter> {
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    const forward = request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        const headers = { ...answer.headers };
        const location = headers.location;
        if (location) {
          const url = new URL(location);
          const port = rewritePort(Number(url.port));
          if (url.hostname === '127.0.0.1' && port !== undefined) {
            url.port = String(port);
            headers.location = url.href;
          }
        }
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

/** The port of the DataNode a WebHDFS NameNode (at `webhdfs`, an http:// URL) redirects writes to. */
export async function webhdfsDataNodePort(webhdfs: string, path: string, user: string): Promise<number> {
  const query = new URLSearchParams({ op: 'CREATE', 'user.name': user, overwrite: 'true' });
  const response = await fetch(`${webhdfs}/webhdfs/v1${path}?${query}`, {
    method: 'PUT',
    redirect: 'manual',
  });
  await response.body?.cancel();
  const location = response.headers.get('location');
  if (response.status !== 307 || !location)
    throw new Error(
      `WebHDFS CREATE ${path}: expected a redirect to the DataNode, got HTTP ${response.status}`,
    );
  return Number(new URL(location).port);
}

import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A variable the integration servers export (integration/.servers.env); its absence is a setup error. */
export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through vitest.integration.config.ts`);
  return value;
}

/** A fresh, empty root under the server's test root, so that tests never see each other's blobs. */
export function uniqueRoot(label = 'it'): string {
  return `${env('ARTIFACTS_IT_AZURE_URI')}/${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A request the rewriting proxy forwarded. */
export interface ForwardedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * An HTTP proxy in front of the real server that forwards every request and answer unchanged
 * except for the answer headers `rewrite` edits in place (bodies stream through untouched; a
 * Shared Key signature covers the request only, so it still verifies). It records every request.
 */
export async function startRewritingProxy(
  target: string,
  rewrite: (request: ForwardedRequest, headers: IncomingHttpHeaders) => void,
): Promise<{ url: string; requests: ForwardedRequest[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const requests: ForwardedRequest[] = [];
  const server = createServer((req, res) => {
    const request = { method: req.method ?? '', url: req.url ?? '/', headers: req.headers };
    requests.push(request);
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        const headers = { ...answer.headers };
        rewrite(request, headers);
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname.replace(/\/$/, '')}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

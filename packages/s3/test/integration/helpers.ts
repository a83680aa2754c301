import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export function env(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run through vitest.integration.config.ts (integration servers)`);
  return value;
}

/** A fresh root under the integration bucket's root prefix. */
export function uniqueRoot(label = 't'): string {
  return `${env('ARTIFACTS_IT_S3_URI')}/${label}-${randomUUID()}`;
}

/** The key prefix inside the bucket of a root URI from `uniqueRoot`. */
export function prefixOf(rootUri: string): string {
  return rootUri.replace(/^s3:\/\/[^/]+\//, '');
}

/** A plain SDK client on the server, to look at what the backend stored without going through it. */
export function adminClient(endpoint = env('MLFLOW_S3_ENDPOINT_URL')): S3Client {
  const https = endpoint.startsWith('https:');
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: env('AWS_SECRET_ACCESS_KEY') },
    ...(https
      ? {
          requestHandler: new NodeHttpHandler({
            httpsAgent: new HttpsAgent({ ca: readFileSync(env('ARTIFACTS_IT_S3_CA_FILE')) }),
          }),
        }
      : {}),
  });
}

/**
 * Sets environment variables for the duration of a test ('' = unset, as the backend reads it);
 * returns a function restoring the previous values.
 */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(vars)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface FaultProxy {
  endpoint: string;
  requests: RecordedRequest[];
  /** Flip one byte in the middle of GET response bodies (a transfer corrupted on the way). */
  corruptResponses: boolean;
  /** Flip one byte of PUT request bodies on their way to the server. */
  corruptRequests: boolean;
  /** Hold every response this long before answering. */
  delayMs: number;
  /** Answer 503 SlowDown to every PUT of this part number (the SDK retries, then gives up). */
  failPartNumber: number | undefined;
  /** Cut the connection of the next PUT of this part number half-way through its body, once. */
  resetPartNumber: number | undefined;
  /** Cut the response of the next GET whose Range starts at this byte half-way through its body, once. */
  resetRangeStart: number | undefined;
  /** Awaited before a GET whose Range starts at this byte is forwarded (an overwrite mid-download). */
  beforeRange: { start: number; run: () => Promise<void> } | undefined;
  /** Answer 503 to every HEAD (a throttled stat, which the SDK would retry if it retried). */
  failHeads: boolean;
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of MinIO that records requests and can corrupt or delay them:
 * the faults a healthy server never produces on demand. Host headers pass unchanged, so SigV4
 * signatures made for the proxy's address still verify at MinIO.
 */
export async function startFaultProxy(target = env('MLFLOW_S3_ENDPOINT_URL')): Promise<FaultProxy> {
  const upstream = new URL(target);
  const state = {
    requests: [] as RecordedRequest[],
    corruptResponses: false,
    corruptRequests: false,
    delayMs: 0,
    failPartNumber: undefined as number | undefined,
    resetPartNumber: undefined as number | undefined,
    resetRangeStart: undefined as number | undefined,
    beforeRange: undefined as { start: number; run: () => Promise<void> } | undefined,
    failHeads: false,
  };
  const server: Server = createServer((req, res) => {
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const part = new URL(req.url ?? '/', 'http://x').searchParams.get('partNumber');
    if (
      state.resetPartNumber !== undefined &&
      req.method === 'PUT' &&
      part === String(state.resetPartNumber)
    ) {
      state.resetPartNumber = undefined;
      let seen = 0;
      const half = Number(req.headers['content-length'] ?? 2) / 2;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= half) req.socket.destroy();
      });
      return;
    }
    if (state.failHeads && req.method === 'HEAD') {
      req.resume();
      res.writeHead(503, { 'retry-after': '0' });
      res.end();
      return;
    }
    if (
      state.failPartNumber !== undefined &&
      req.method === 'PUT' &&
      new URL(req.url ?? '/', 'http://x').searchParams.get('partNumber') === String(state.failPartNumber)
    ) {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
      );
      return;
    }
    const rangeStart = /^bytes=(\d+)-/.exec(String(req.headers.range ?? ''))?.[1];
    const cutHalfway =
      req.method === 'GET' && rangeStart !== undefined && Number(rangeStart) === state.resetRangeStart;
    if (cutHalfway) state.resetRangeStart = undefined;
    const hook =
      req.method === 'GET' && rangeStart !== undefined && Number(rangeStart) === state.beforeRange?.start
        ? state.beforeRange
        : undefined;
    if (hook) state.beforeRange = undefined;
    const forward = () =>
      httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (upstreamRes) => {
          const send = () => {
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
            const status = upstreamRes.statusCode;
            let flipped = !(
              state.corruptResponses &&
              req.method === 'GET' &&
              (status === 200 || status === 206)
            );
            const half = Number(upstreamRes.headers['content-length'] ?? 2) / 2;
            let sent = 0;
            upstreamRes.on('data', (chunk: Buffer) => {
              if (cutHalfway) {
                sent += chunk.length;
                if (sent >= half) {
                  res.socket?.destroy();
                  upstreamRes.destroy();
                  return;
                }
              }
              if (!flipped && chunk.length > 1) {
                const copy = Buffer.from(chunk);
                copy[copy.length >> 1]! ^= 0xff;
                flipped = true;
                res.write(copy);
                return;
              }
              res.write(chunk);
            });
            upstreamRes.on('end', () => res.end());
            upstreamRes.on('error', () => res.destroy());
          };
          if (state.delayMs > 0) setTimeout(send, state.delayMs);
          else send();
        },
      );
    const go = () => {
      const upstreamReq = forward();
      upstreamReq.on('error', () => res.destroy());
      let flipped = !(state.corruptRequests && req.method === 'PUT');
      req.on('data', (chunk: Buffer) => {
        // A payload byte: streamed bodies go aws-chunked, whose small framing writes come apart.
        if (!flipped && chunk.length > 1024) {
          const copy = Buffer.from(chunk);
          copy[copy.length >> 1]! ^= 0xff;
          flipped = true;
          upstreamReq.write(copy);
          return;
        }
        upstreamReq.write(chunk);
      });
      req.on('end', () => upstreamReq.end());
    };
    if (hook) {
      req.pause();
      void hook.run().then(go, () => res.destroy());
    } else go();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

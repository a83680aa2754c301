import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { type HttpFault, type ProxiedRequest, startHttpFaultProxy } from '@artifacts/testkit';
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

export type RecordedRequest = ProxiedRequest;

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
  /**
   * Answer 301 PermanentRedirect with `x-amz-bucket-region: us-east-1` to every request signed for
   * this region (MinIO, with no region of its own, accepts any): a bucket that lives elsewhere.
   */
  redirectRegion: string | undefined;
  close(): Promise<void>;
}

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

/**
 * testkit's HTTP fault proxy in front of MinIO, driven by switches the tests flip: the faults a
 * healthy server never produces on demand. Host headers pass unchanged, so SigV4 signatures made
 * for the proxy's address still verify at MinIO.
 */
export async function startFaultProxy(target = env('MLFLOW_S3_ENDPOINT_URL')): Promise<FaultProxy> {
  const state = {
    corruptResponses: false,
    corruptRequests: false,
    delayMs: 0,
    failPartNumber: undefined as number | undefined,
    resetPartNumber: undefined as number | undefined,
    resetRangeStart: undefined as number | undefined,
    beforeRange: undefined as { start: number; run: () => Promise<void> } | undefined,
    failHeads: false,
    redirectRegion: undefined as string | undefined,
  };
  const proxy = await startHttpFaultProxy(target, (req): HttpFault => {
    const part = new URL(req.url, 'http://x').searchParams.get('partNumber');
    const put = req.method === 'PUT';
    const get = req.method === 'GET';
    if (put && state.resetPartNumber !== undefined && part === String(state.resetPartNumber)) {
      state.resetPartNumber = undefined;
      return { cutRequest: 0.5 };
    }
    const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization))?.[1];
    if (state.redirectRegion !== undefined && scope === state.redirectRegion) {
      const body = `<Error><Code>PermanentRedirect</Code><Message>The bucket is in this region: us-east-1.</Message></Error>`;
      return {
        status: 301,
        headers: { 'x-amz-bucket-region': 'us-east-1' },
        body: req.method === 'HEAD' ? '' : body,
      };
    }
    if (state.failHeads && req.method === 'HEAD') return { status: 503, headers: { 'retry-after': '0' } };
    if (put && state.failPartNumber !== undefined && part === String(state.failPartNumber)) {
      return { status: 503, headers: { 'content-type': 'application/xml' }, body: SLOW_DOWN };
    }
    const cut = get && req.rangeStart !== undefined && req.rangeStart === state.resetRangeStart;
    if (cut) state.resetRangeStart = undefined;
    const hook = get && req.rangeStart === state.beforeRange?.start ? state.beforeRange : undefined;
    if (hook) state.beforeRange = undefined;
    return {
      ...(cut ? { cutResponse: 0.5 } : {}),
      ...(hook ? { before: hook.run } : {}),
      corruptResponse: state.corruptResponses && get,
      corruptRequest: state.corruptRequests && put,
      delayMs: state.delayMs,
    };
  });
  return Object.assign(state, { endpoint: proxy.url, requests: proxy.requests, close: proxy.close });
}

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ArtifactsError } from './errors.js';
import type { RetryEvent } from './layers/retry.js';
import { openRepository } from './open.js';
import {
  isTrackingUri,
  parseTrackingUri,
  resolveTrackingUri,
  TrackingClient,
  type TrackingOptions,
  trackingSettings,
} from './tracking.js';

describe('parseTrackingUri', () => {
  it('reads runs:/ URIs with and without a path', () => {
    expect(parseTrackingUri('runs:/0123abc/model')).toEqual({ kind: 'run', runId: '0123abc', path: 'model' });
    expect(parseTrackingUri('runs:/0123abc')).toEqual({ kind: 'run', runId: '0123abc', path: '' });
    expect(parseTrackingUri('runs:///0123abc/a/b.txt')).toEqual({
      kind: 'run',
      runId: '0123abc',
      path: 'a/b.txt',
    });
  });

  it('reads every models:/ form MLflow has', () => {
    expect(parseTrackingUri('models:/my%20model/3')).toEqual({
      kind: 'model-version',
      name: 'my model',
      version: '3',
      path: '',
    });
    expect(parseTrackingUri('models:/m/3/MLmodel')).toMatchObject({ kind: 'model-version', path: 'MLmodel' });
    expect(parseTrackingUri('models:/m@champion')).toEqual({
      kind: 'model-alias',
      name: 'm',
      alias: 'champion',
      path: '',
    });
    expect(parseTrackingUri('models:/m/latest')).toEqual({
      kind: 'model-latest',
      name: 'm',
      stage: undefined,
      path: '',
    });
    expect(parseTrackingUri('models:/m/Production')).toEqual({
      kind: 'model-latest',
      name: 'm',
      stage: 'Production',
      path: '',
    });
    expect(parseTrackingUri('models:/m-0a1b2c')).toEqual({
      kind: 'logged-model',
      modelId: 'm-0a1b2c',
      path: '',
    });
  });

  it.each([
    ['runs:/', 'run_id'],
    ['runs:/abc/../../etc', "'..'"],
    ['runs:/abc/%2e%2e/x', "'..'"],
    ['runs://profile/abc', 'profile'],
    ['runs:abc', 'runs:/'],
    ['models:/', 'models:/<name>'],
    ['models:/m', 'models:/<name>'],
    ['models:/m/notastage', 'not a version'],
    ['models:/m@', 'alias'],
    ['runs:/a b', 'run id'],
    ['runs:/abc/x#y', "'#'"],
  ])('refuses %s naming the problem', (uri, words) => {
    let caught: unknown;
    try {
      parseTrackingUri(uri);
    } catch (error) {
      caught = error;
    }
    expect(ArtifactsError.is(caught, 'invalid_argument')).toBe(true);
    expect((caught as Error).message).toContain(words);
  });

  it('recognises only runs: and models:', () => {
    expect(isTrackingUri('runs:/x')).toBe(true);
    expect(isTrackingUri('MODELS:/x/1')).toBe(true);
    expect(isTrackingUri('s3://b/runs')).toBe(false);
    expect(isTrackingUri('./runs:/x')).toBe(false);
  });
});

describe('TrackingClient configuration', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('needs an http(s) tracking URI and says which variable to set', async () => {
    vi.stubEnv('MLFLOW_TRACKING_URI', '');
    await expect(openRepository('runs:/abc/model')).rejects.toThrow(/MLFLOW_TRACKING_URI/);
    vi.stubEnv('MLFLOW_TRACKING_URI', 'sqlite:///mlflow.db');
    await expect(resolveTrackingUri('runs:/abc')).rejects.toThrow(/http\(s\) tracking server.*sqlite/);
  });

  it('refuses insecure TLS together with a CA bundle, as MLflow does', () => {
    expect(
      () => new TrackingClient({ trackingUri: 'https://h', insecureTls: true, serverCertPath: '/x.pem' }),
    ).toThrow(/cannot both be set/);
  });

  it('refuses an unknown option naming the closest one', () => {
    expect(() => new TrackingClient({ trackingUri: 'http://h', tokn: 'x' } as TrackingOptions)).toThrow(
      /unknown option "tokn".*did you mean "token"/,
    );
  });

  it('declares its options once: the README table is the declaration', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(trackingSettings.markdownTable());
  });

  it('never shows the password of a tracking URI', () => {
    const client = new TrackingClient({ trackingUri: 'http://me:s3cret-pw@127.0.0.1:1' });
    expect(client.uri).not.toContain('s3cret-pw');
  });
});

// A local HTTP server stands in for the tracking server only to observe the request headers and
// to answer a 401 and a 503 on demand; resolution itself is proven against MLflow in the CLI's
// integration suite.
describe('TrackingClient requests', () => {
  async function withServer(
    handler: (
      headers: IncomingHttpHeaders,
      url: string,
    ) => { status: number; body: unknown; headers?: Record<string, string> },
    fn: (url: string, seen: { headers: IncomingHttpHeaders; url: string }[]) => Promise<void>,
  ): Promise<void> {
    const seen: { headers: IncomingHttpHeaders; url: string }[] = [];
    const server = createServer((req, res) => {
      seen.push({ headers: req.headers, url: req.url ?? '' });
      const { status, body, headers } = handler(req.headers, req.url ?? '');
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  afterEach(() => vi.unstubAllEnvs());

  it('sends basic credentials before a token (MLflow order) and resolves a run', async () => {
    vi.stubEnv('MLFLOW_TRACKING_USERNAME', 'alice');
    vi.stubEnv('MLFLOW_TRACKING_PASSWORD', 'pw-123');
    vi.stubEnv('MLFLOW_TRACKING_TOKEN', 'tok-456');
    await withServer(
      () => ({
        status: 200,
        body: { run: { info: { run_id: 'abc', artifact_uri: 's3://b/1/abc/artifacts' } } },
      }),
      async (url, seen) => {
        await expect(
          resolveTrackingUri('runs:/abc/model/x.pkl', { trackingUri: `${url}/prefix` }),
        ).resolves.toBe('s3://b/1/abc/artifacts/model/x.pkl');
        expect(seen[0]?.url).toBe('/prefix/api/2.0/mlflow/runs/get?run_id=abc');
        expect(seen[0]?.headers.authorization).toBe(
          `Basic ${Buffer.from('alice:pw-123').toString('base64')}`,
        );
      },
    );
  });

  it("takes basic credentials from the tracking URI's user info after the variables", async () => {
    await withServer(
      () => ({ status: 200, body: { run: { info: { run_id: 'abc', artifact_uri: '/tmp/a' } } } }),
      async (url, seen) => {
        const withUser = url.replace('http://', 'http://carol:uri-pw@');
        await new TrackingClient({ trackingUri: withUser }).getRun('abc');
        expect(seen[0]?.headers.authorization).toBe(
          `Basic ${Buffer.from('carol:uri-pw').toString('base64')}`,
        );
        vi.stubEnv('MLFLOW_TRACKING_PASSWORD', 'env-pw');
        await new TrackingClient({ trackingUri: withUser }).getRun('abc');
        expect(seen[1]?.headers.authorization).toBe(
          `Basic ${Buffer.from('carol:env-pw').toString('base64')}`,
        );
      },
    );
  });

  it('an unknown alias (MLflow answers 400 INVALID_PARAMETER_VALUE) is not_found', async () => {
    await withServer(
      () => ({
        status: 400,
        body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'Registered model alias nope not found.' },
      }),
      async (url) => {
        const error = await resolveTrackingUri('models:/m@nope', { trackingUri: url }).catch(
          (e: unknown) => e,
        );
        expect(ArtifactsError.is(error, 'not_found'), String(error)).toBe(true);
        expect((error as Error).message).toMatch(/alias nope not found/);
      },
    );
  });

  it('a server that never answers is a timeout after MLFLOW_HTTP_REQUEST_TIMEOUT, retried', async () => {
    vi.stubEnv('MLFLOW_HTTP_REQUEST_TIMEOUT', '0.3');
    const server = createServer(() => {
      // Never answers.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const events: RetryEvent[] = [];
    try {
      const client = new TrackingClient({
        trackingUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        maxRetries: 1,
        backoffFactor: 0.001,
        backoffJitter: 0,
        onRetry: (event) => events.push(event),
      });
      const error = await client.getRun('abc').catch((e: unknown) => e);
      await client.close();
      expect(ArtifactsError.is(error, 'timeout'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/nothing received for 0.3 s.*MLFLOW_HTTP_REQUEST_TIMEOUT/);
      expect(events).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a server that is not running fails at once with a hint, not after minutes of retries', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const events: RetryEvent[] = [];
    const client = new TrackingClient({
      trackingUri: `http://127.0.0.1:${port}`,
      onRetry: (event) => events.push(event),
    });
    const error = await client.getRun('abc').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unavailable'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/MLFLOW_TRACKING_URI/);
    expect(events).toHaveLength(0);
  });

  it('uses the token when no user and password are set', async () => {
    vi.stubEnv('MLFLOW_TRACKING_TOKEN', 'tok-456');
    await withServer(
      () => ({ status: 200, body: { artifact_uri: 'mlflow-artifacts:/1/models/m-1/artifacts' } }),
      async (url, seen) => {
        await expect(resolveTrackingUri('models:/m/2', { trackingUri: url })).resolves.toBe(
          'mlflow-artifacts:/1/models/m-1/artifacts',
        );
        expect(seen[0]?.url).toBe('/api/2.0/mlflow/model-versions/get-download-uri?name=m&version=2');
        expect(seen[0]?.headers.authorization).toBe('Bearer tok-456');
      },
    );
  });

  it('maps 401 to unauthenticated without echoing the token', async () => {
    vi.stubEnv('MLFLOW_TRACKING_TOKEN', 'tok-secret-456');
    await withServer(
      () => ({ status: 401, body: { error_code: 'UNAUTHENTICATED', message: 'bad token tok-secret-456' } }),
      async (url) => {
        const error = await resolveTrackingUri('runs:/abc', { trackingUri: url }).catch((e: unknown) => e);
        expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
        expect((error as Error).message).not.toContain('tok-secret-456');
        expect((error as Error).message).toContain('MLFLOW_TRACKING_TOKEN');
      },
    );
  });

  it('retries 503 with backoff, then succeeds; a missing run is not_found', async () => {
    let calls = 0;
    await withServer(
      (_h, url) => {
        if (url.includes('runs/get') && calls++ < 2) return { status: 503, body: {} };
        if (url.includes('run_id=gone')) {
          return {
            status: 404,
            body: { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Run gone not found' },
          };
        }
        return { status: 200, body: { run: { info: { run_id: 'abc', artifact_uri: '/tmp/a' } } } };
      },
      async (url) => {
        const client = new TrackingClient({ trackingUri: url, backoffFactor: 0.01, backoffJitter: 0 });
        await expect(client.getRun('abc')).resolves.toMatchObject({ runId: 'abc', artifactUri: '/tmp/a' });
        expect(calls).toBe(3);
        const error = await client.getRun('gone').catch((e: unknown) => e);
        expect(ArtifactsError.is(error, 'not_found')).toBe(true);
      },
    );
  });

  it("retries through core's retry loop: Retry-After honoured, each retry reported", async () => {
    let calls = 0;
    const events: RetryEvent[] = [];
    await withServer(
      () =>
        calls++ === 0
          ? { status: 429, body: {}, headers: { 'retry-after': '1' } }
          : { status: 200, body: { run: { info: { run_id: 'abc', artifact_uri: '/tmp/a' } } } },
      async (url) => {
        const client = new TrackingClient({
          trackingUri: url,
          backoffFactor: 0.001,
          backoffJitter: 0,
          onRetry: (event) => events.push(event),
        });
        const started = Date.now();
        await expect(client.getRun('abc')).resolves.toMatchObject({ runId: 'abc' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(990);
      },
    );
    expect(calls).toBe(2);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ operation: 'tracking request', attempt: 1, delayMs: 1000 });
    expect(events[0]?.key).toMatch(/^GET .*runs\/get\?run_id=abc$/);
  });

  it('takes its number of retries from MLFLOW_HTTP_REQUEST_MAX_RETRIES', async () => {
    vi.stubEnv('MLFLOW_HTTP_REQUEST_MAX_RETRIES', '1');
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', '0.001');
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', '0');
    let calls = 0;
    await withServer(
      () => {
        calls++;
        return { status: 503, body: { message: 'down' } };
      },
      async (url) => {
        const error = await new TrackingClient({ trackingUri: url }).getRun('abc').catch((e: unknown) => e);
        expect(ArtifactsError.is(error, 'unavailable'), String(error)).toBe(true);
        expect((error as ArtifactsError).temporary).toBe(true);
      },
    );
    expect(calls).toBe(2);
  });
  /** The waits before each retry of a request the server always answers 503, as reported. */
  async function waits(options: TrackingOptions): Promise<number[]> {
    const events: RetryEvent[] = [];
    await withServer(
      () => ({ status: 503, body: { message: 'down' } }),
      async (url) => {
        const client = new TrackingClient({ trackingUri: url, ...options, onRetry: (e) => events.push(e) });
        await expect(client.getRun('abc')).rejects.toThrow();
      },
    );
    return events.map((event) => event.delayMs);
  }

  it('waits as MLflow does: the whole step each time, plus MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', async () => {
    vi.stubEnv('MLFLOW_HTTP_REQUEST_MAX_RETRIES', '4');
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', '0.001');
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', '0.1');
    const jittered = await waits({});
    expect(jittered).toHaveLength(4);
    // Step n is 2^(n-1) ms; the jitter adds up to 100 ms to each.
    jittered.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(2 ** i);
      expect(ms).toBeLessThanOrEqual(2 ** i + 100);
    });
    expect(jittered.some((ms, i) => ms > 2 ** i + 1)).toBe(true);
    // The option wins over the variable; 0 is no jitter at all.
    expect(await waits({ backoffJitter: 0 })).toEqual([1, 2, 4, 8]);
  });

  it('refuses a negative or non-numeric backoff', () => {
    expect(() => new TrackingClient({ trackingUri: 'http://localhost:1', backoffJitter: -1 })).toThrow(
      /backoffJitter/,
    );
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', 'soon');
    expect(() => new TrackingClient({ trackingUri: 'http://localhost:1' })).toThrow(
      /MLFLOW_HTTP_REQUEST_BACKOFF_JITTER/,
    );
  });
});

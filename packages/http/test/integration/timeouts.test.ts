import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository } from '@artifacts/core';
import '@artifacts/local';
import { createArtifactServer } from '@artifacts/server';
import { describeTimeouts } from '@artifacts/testkit';
import { afterAll } from 'vitest';
import '../../src/index.js';

// mlflow-artifacts: URIs resolved against our own artifact server (over a local destination),
// reached through the pacing/stalling proxy.
const destination = await mkdtemp(join(tmpdir(), 'artifacts-http-timeouts-'));
const server = await createArtifactServer({
  artifactsDestination: destination,
  port: 0,
  host: '127.0.0.1',
  auth: { allowUnauthenticated: true },
  accessLog: false,
});
const { url } = await server.listen();
afterAll(async () => {
  await server.close();
  await rm(destination, { recursive: true, force: true });
});

let roots = 0;
describeTimeouts('http (mlflow-artifacts: → @artifacts/server)', {
  target: { host: new URL(url).hostname, port: Number(new URL(url).port) },
  open: (proxy, timeoutMs) =>
    openRepository(`mlflow-artifacts:/timeouts-${++roots}`, {
      trackingUri: `http://${proxy.host}:${proxy.port}`,
      timeoutMs,
    }),
});

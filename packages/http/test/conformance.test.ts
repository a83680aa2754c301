import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository } from '@artifacts/core';
import '../src/index.js';
import '@artifacts/local';
import { createArtifactServer } from '@artifacts/server';
import { describeConformance } from '@artifacts/testkit';
import { afterAll } from 'vitest';

// @artifacts/http against @artifacts/server (in this process) over a local destination. The server
// starts while the file is collected: the suite opens a repository then to read its capabilities.
const destination = await mkdtemp(join(tmpdir(), 'artifacts-http-conformance-'));
const server = await createArtifactServer({
  artifactsDestination: destination,
  port: 0,
  auth: { users: { alice: 'wonderland-secret' } },
  accessLog: false,
});
const { url } = await server.listen();

afterAll(async () => {
  await server.close();
  await rm(destination, { recursive: true, force: true });
});

describeConformance('http client → @artifacts/server → local disk', {
  open: () =>
    openRepository(`${url}/api/2.0/mlflow-artifacts/artifacts/conformance/${randomUUID()}`, {
      username: 'alice',
      password: 'wonderland-secret',
      maxRetries: 0,
    }),
});

import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { dataBytes, hashStream } from '@artifacts/testkit';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './server-process.js';

// Two server processes behind nginx (round robin), one MinIO destination: a multipart upload whose
// create, part uploads and complete land on different processes still completes. The server keeps
// no state a second replica lacks. nginx comes from Debian (installed here when missing).

const MiB = 1024 * 1024;
const TOKEN = 'replica-test-token-0123';
const M = '/api/2.0/mlflow-artifacts/mpu';
const A = '/api/2.0/mlflow-artifacts/artifacts';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

function nginxBinary(): string {
  const path = '/usr/sbin/nginx';
  if (!existsSync(path)) {
    // As the other launchers install their Debian packages.
    try {
      execFileSync('apt-get', ['install', '-y', 'nginx'], {
        stdio: 'ignore',
      });
    } catch {
      execFileSync('apt-get', ['update'], { stdio: 'ignore' });
      execFileSync('apt-get', ['install', '-y', 'nginx'], {
        stdio: 'ignore',
      });
    }
  }
  return path;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

let servers: ServerProcess[] = [];
let nginx: ReturnType<typeof spawn> | undefined;
let work: string;
let front: string;

beforeAll(async () => {
  const binary = nginxBinary();
  work = await mkdtemp(join(tmpdir(), 'artifacts-replicas-'));
  const destination = `${env('ARTIFACTS_IT_S3_URI')}/replicas-${randomUUID()}`;
  const options = {
    artifactsDestination: destination,
    host: '127.0.0.1',
    auth: { tokens: [TOKEN] },
    accessLog: true,
  };
  servers = await Promise.all([startServerProcess(options), startServerProcess(options)]);
  const port = await freePort();
  for (const dir of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(work, dir));
  const upstreams = servers.map((s) => `server ${new URL(s.url).host};`).join(' ');
  await writeFile(
    join(work, 'nginx.conf'),
    `user root;
worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${work}/body; proxy_temp_path ${work}/proxy; fastcgi_temp_path ${work}/fastcgi;
  uwsgi_temp_path ${work}/uwsgi; scgi_temp_path ${work}/scgi;
  upstream artifacts { ${upstreams} }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://artifacts;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The server answers only its own names (DNS rebinding): pass the client's Host through.
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`,
  );
  nginx = spawn(binary, ['-c', join(work, 'nginx.conf'), '-p', work], { stdio: 'ignore' });
  front = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const response = await request(`${front}/health`);
      await response.body.text();
      if (response.statusCode === 200) break;
    } catch {
      // not yet up
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx?.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await Promise.all(servers.map((s) => s.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await request(`${front}${path}`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify(body),
  });
  const text = await response.body.text();
  expect(response.statusCode, text).toBe(200);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Which process served the latest request on `route` (by its access log, written asynchronously). */
async function servedBy(route: string, seen: number[]): Promise<number> {
  let index = -1;
  for (let attempt = 0; attempt < 100 && index === -1; attempt++) {
    index = servers.findIndex(
      (s, i) => s.access.filter((e) => String(e.route).includes(route)).length > seen[i]!,
    );
    if (index === -1) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(index, `no process logged ${route}`).toBeGreaterThanOrEqual(0);
  return index;
}

function counts(route: string): number[] {
  return servers.map((s) => s.access.filter((e) => String(e.route).includes(route)).length);
}

describe('two server processes behind nginx sharing one MinIO', () => {
  it('a multipart upload created on one process completes on the other', async () => {
    const data = dataBytes(11 * MiB + 5, { seed: 'replicas' });
    const sizes = [5 * MiB, 5 * MiB, MiB + 5];
    const beforeCreate = counts('/mpu/create/');
    const created = (await post(`${M}/create/run/model`, { path: '/home/me/weights.bin', num_parts: 3 })) as {
      upload_id: string;
      credentials: Array<{ url: string; part_number: number; headers: Record<string, string> }>;
    };
    const createdOn = await servedBy('/mpu/create/', beforeCreate);

    let offset = 0;
    const parts = [];
    for (const [index, credential] of created.credentials.entries()) {
      const bytes = data.subarray(offset, offset + sizes[index]!);
      offset += bytes.length;
      const response = await request(credential.url, {
        method: 'PUT',
        headers: credential.headers,
        body: bytes,
      });
      await response.body.text();
      expect(response.statusCode).toBe(200);
      parts.push({
        part_number: credential.part_number,
        etag: String(response.headers.etag),
        url: credential.url,
      });
    }

    const beforeComplete = counts('/mpu/complete/');
    await post(`${M}/complete/run/model`, { path: 'weights.bin', upload_id: created.upload_id, parts });
    const completedOn = await servedBy('/mpu/complete/', beforeComplete);
    expect(completedOn).not.toBe(createdOn);

    // Read back through the balancer (either process) and directly from both.
    for (const base of [front, ...servers.map((s) => s.url)]) {
      const response = await request(`${base}${A}/run/model/weights.bin`, { headers: auth });
      expect(response.statusCode).toBe(200);
      expect((await hashStream(response.body)).digest).toBe((await hashStream(Readable.from([data]))).digest);
    }
  });

  it('an upload created on one process is aborted on the other, leaving nothing', async () => {
    const beforeCreate = counts('/mpu/create/');
    const created = (await post(`${M}/create/run/aborted`, { path: 'x.bin', num_parts: 2 })) as {
      upload_id: string;
    };
    const createdOn = await servedBy('/mpu/create/', beforeCreate);
    const beforeAbort = counts('/mpu/abort/');
    await post(`${M}/abort/run/aborted`, { path: 'x.bin', upload_id: created.upload_id });
    expect(await servedBy('/mpu/abort/', beforeAbort)).not.toBe(createdOn);
    const listing = await request(`${front}${A}?path=run/aborted`, { headers: auth });
    expect(await listing.body.json()).toEqual({});
  });
});

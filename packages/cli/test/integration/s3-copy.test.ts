import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers.js';

// `artifacts cp` within one S3 store lets S3 copy (no object bytes through the client), and streams
// between stores. Every byte between the CLI and MinIO passes a counting TCP proxy.

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

const MiB = 1024 * 1024;
const s3Prefix = (label: string) => `${env('ARTIFACTS_IT_S3_URI')}/cli-${label}-${randomUUID().slice(0, 8)}`;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();
const counted = { up: 0, down: 0 };

beforeAll(async () => {
  const target = new URL(env('MLFLOW_S3_ENDPOINT_URL'));
  server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      counted.up += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      counted.down += chunk.length;
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  endpoint = `${target.protocol}//127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** Runs the CLI against MinIO through the proxy; returns what passed through it. */
async function run(args: string[]): Promise<{ stdout: string; up: number; down: number }> {
  counted.up = 0;
  counted.down = 0;
  const result = await cli(args, { timeoutMs: 120_000, env: { MLFLOW_S3_ENDPOINT_URL: endpoint } });
  if (result.code !== 0)
    throw new Error(`artifacts ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return { stdout: result.stdout, up: counted.up, down: counted.down };
}

describe('artifacts cp on S3', () => {
  it('copies within one store by the store itself: no object bytes through the client; across stores it streams', async () => {
    const work = await tempDir();
    const big = randomBytes(20 * MiB);
    await mkdir(join(work, 'run', 'model'), { recursive: true });
    await writeFile(join(work, 'run', 'model', 'weights.bin'), big);
    await writeFile(join(work, 'run', 'params.json'), '{"lr":0.1}');
    const a = s3Prefix('cp-a');
    const b = s3Prefix('cp-b');

    const up = await run(['cp', join(work, 'run'), a]);
    expect(up.up).toBeGreaterThan(big.length);

    const within = await run(['cp', a, b, '--json']);
    console.log(`artifacts cp s3→s3 of ${big.length + 10} bytes: ${within.up} bytes up, ${within.down} down`);
    expect(JSON.parse(within.stdout)).toMatchObject({ files: 2, bytes: big.length + 10 });
    expect(within.up + within.down).toBeLessThan(64 * 1024);

    const back = join(work, 'back');
    const down = await run(['cp', b, back]);
    expect(down.down).toBeGreaterThan(big.length);
    expect(sha(await readFile(join(back, 'model', 'weights.bin')))).toBe(sha(big));
    expect(await readFile(join(back, 'params.json'), 'utf8')).toBe('{"lr":0.1}');
  }, 300_000);
});

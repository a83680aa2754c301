import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers.js';

// `presign`, `sync` and `check` against MinIO (only the s3 server: no MLflow here), each through the
// real `artifacts` binary. Sync runs local→S3, S3→local and S3→S3 (two prefixes of one bucket).

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

/** A fresh prefix of the MinIO bucket for one test. */
const s3Prefix = (label: string) => `${env('ARTIFACTS_IT_S3_URI')}/cli-${label}-${randomUUID().slice(0, 8)}`;

async function ok(args: string[]): Promise<string> {
  const result = await cli(args, { timeoutMs: 60_000 });
  if (result.code !== 0)
    throw new Error(`artifacts ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  expect(result.stderr).not.toMatch(/Warning|Error/);
  return result.stdout;
}

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T;
}

describe('presign on S3', () => {
  it('signs a GET URL that reads the bytes and a PUT URL that writes them, with plain fetch', async () => {
    const work = await tempDir();
    const prefix = s3Prefix('presign');
    const body = randomBytes(300_000);
    await writeFile(join(work, 'model.bin'), body);
    await ok(['cp', join(work, 'model.bin'), `${prefix}/model.bin`]);

    const get = (await ok(['presign', `${prefix}/model.bin`])).trim();
    expect(get).toMatch(/^http:\/\/.*X-Amz-Signature=/);
    const response = await fetch(get);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);

    const put = await json<{ url: string; method: string; expires_in: number }>([
      'presign',
      '--method',
      'PUT',
      '--expires-in',
      '600',
      `${prefix}/uploaded/weights.bin`,
    ]);
    expect(put).toMatchObject({ method: 'PUT', expires_in: 600 });
    const sent = randomBytes(123_457);
    const written = await fetch(put.url, { method: 'PUT', body: sent });
    expect(written.status).toBe(200);
    const back = await cli(['cat', `${prefix}/uploaded/weights.bin`], { timeoutMs: 60_000 });
    expect(back.code).toBe(0);
    expect(back.stdoutBytes.equals(sent)).toBe(true);

    // The GET URL is bound to its object: another key with the same signature is refused.
    const tampered = await fetch(get.replace('/model.bin?', '/uploaded/weights.bin?'));
    expect(tampered.status).toBe(403);
    await tampered.body?.cancel();

    // A missing object cannot be presigned for reading (it would only fail in someone else's hands).
    const missing = await cli(['presign', `${prefix}/nothing.bin`], { timeoutMs: 60_000 });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/nothing\.bin/);
  });
});

interface SyncJson {
  copied: string[];
  deleted: string[];
  skipped: number;
  bytes: number;
  dry_run?: boolean;
}

interface CheckJson {
  match: number;
  missing_on_dst: string[];
  missing_on_src: string[];
  differ: string[];
}

/** One side of a sync: a local directory or an S3 prefix, with a way to put a file into it. */
interface Side {
  uri: string;
  put(rel: string, data: Buffer | string): Promise<void>;
}

async function localSide(): Promise<Side> {
  const dir = join(await tempDir(), 'tree');
  await mkdir(dir);
  return {
    uri: dir,
    async put(rel, data) {
      await mkdir(join(dir, rel, '..'), { recursive: true });
      await writeFile(join(dir, rel), data);
    },
  };
}

async function s3Side(label: string): Promise<Side> {
  const uri = s3Prefix(label);
  const staging = await tempDir();
  return {
    uri,
    async put(rel, data) {
      const file = join(staging, randomUUID());
      await writeFile(file, data);
      await ok(['cp', file, `${uri}/${rel}`]);
    },
  };
}

async function check(
  src: Side,
  dst: Side,
  ...flags: string[]
): Promise<{ code: number | null; report: CheckJson }> {
  const result = await cli(['check', ...flags, src.uri, dst.uri, '--json'], { timeoutMs: 60_000 });
  return { code: result.code, report: JSON.parse(result.stdout) as CheckJson };
}

describe.each([
  ['local → S3', () => localSide(), () => s3Side('sync-dst')],
  ['S3 → local', () => s3Side('sync-src'), () => localSide()],
  ['S3 → S3', () => s3Side('sync-src'), () => s3Side('sync-dst')],
] as const)('sync and check, %s', (_name, makeSrc, makeDst) => {
  it('copies all, then nothing, then what changed; --dry-run changes nothing; --delete prunes; check tells', async () => {
    const src = await makeSrc();
    const dst = await makeDst();
    const reference = await localSide(); // what dst must hold, compared by content at the end
    const files: Record<string, Buffer> = {
      'a.txt': Buffer.from(`alpha ${randomUUID()}\n`),
      'sub/b.csv': Buffer.from('x,y\n1,2\n'),
      'sub/deep/c.bin': randomBytes(200_000),
    };
    for (const [rel, data] of Object.entries(files)) {
      await src.put(rel, data);
      await reference.put(rel, data);
    }

    const first = await json<SyncJson>(['sync', src.uri, dst.uri]);
    expect(first).toEqual({
      copied: ['a.txt', 'sub/b.csv', 'sub/deep/c.bin'],
      deleted: [],
      skipped: 0,
      bytes: Object.values(files).reduce((sum, data) => sum + data.length, 0),
    });
    expect(await check(reference, dst, '--checksum')).toEqual({
      code: 0,
      report: { match: 3, missing_on_dst: [], missing_on_src: [], differ: [] },
    });
    const cat = await cli(['cat', `${dst.uri}/sub/deep/c.bin`], { timeoutMs: 60_000 });
    expect(cat.stdoutBytes.equals(files['sub/deep/c.bin']!)).toBe(true);

    if (!src.uri.includes('://')) {
      // A local file written in the same second as its upload: S3 stamps whole seconds
      // (Last-Modified), so the source's milliseconds must not make it look newer than its copy.
      for (const rel of Object.keys(files)) {
        const info = await json<{ last_modified: string }>(['stat', `${dst.uri}/${rel}`]);
        const second = Math.floor(Date.parse(info.last_modified) / 1000) * 1000;
        const when = new Date(second + 1);
        await utimes(join(src.uri, rel), when, when);
      }
    }

    // Nothing changed: same sizes, and the destination's copies are not older than the sources.
    expect(await json<SyncJson>(['sync', src.uri, dst.uri])).toEqual({
      copied: [],
      deleted: [],
      skipped: 3,
      bytes: 0,
    });

    // A changed source file is copied again, and only it.
    const changed = Buffer.from(`alpha, second version ${randomUUID()}\n`);
    await src.put('a.txt', changed);
    await reference.put('a.txt', changed);
    expect(await check(src, dst)).toEqual({
      code: 1,
      report: { match: 2, missing_on_dst: [], missing_on_src: [], differ: ['a.txt'] },
    });
    expect(await json<SyncJson>(['sync', src.uri, dst.uri])).toMatchObject({
      copied: ['a.txt'],
      deleted: [],
      skipped: 2,
      bytes: changed.length,
    });
    expect((await check(reference, dst, '--checksum')).code).toBe(0);

    // A new source file and an extraneous destination file: --dry-run reports both, changes nothing.
    await src.put('sub/new.txt', 'new\n');
    await reference.put('sub/new.txt', 'new\n');
    await dst.put('extra/stale.txt', 'stale\n');
    const before = await check(src, dst);
    expect(before).toEqual({
      code: 1,
      report: { match: 3, missing_on_dst: ['sub/new.txt'], missing_on_src: ['extra/stale.txt'], differ: [] },
    });
    const plain = await cli(['check', src.uri, dst.uri], { timeoutMs: 60_000 });
    expect(plain.code).toBe(1);
    expect(plain.stdout).toContain('missing on destination: sub/new.txt\n');
    expect(plain.stdout).toContain('only on destination: extra/stale.txt\n');
    expect(plain.stdout).toContain('3 matching files, 2 differences\n');
    expect(await json<SyncJson>(['sync', '--delete', '--dry-run', src.uri, dst.uri])).toEqual({
      dry_run: true,
      copied: ['sub/new.txt'],
      deleted: ['extra/stale.txt'],
      skipped: 3,
      bytes: 4,
    });
    expect(await check(src, dst)).toEqual(before);

    // Without --delete the extraneous file stays; with it, it goes.
    expect(await json<SyncJson>(['sync', src.uri, dst.uri])).toMatchObject({
      copied: ['sub/new.txt'],
      deleted: [],
      skipped: 3,
    });
    expect((await check(src, dst)).report.missing_on_src).toEqual(['extra/stale.txt']);
    expect(await json<SyncJson>(['sync', '--delete', src.uri, dst.uri])).toEqual({
      copied: [],
      deleted: ['extra/stale.txt'],
      skipped: 4,
      bytes: 0,
    });
    const matched = await cli(['check', src.uri, dst.uri], { timeoutMs: 60_000 });
    expect(matched.code).toBe(0);
    expect(matched.stdout).toBe('4 matching files, 0 differences\n');
    expect(await check(reference, dst, '--checksum')).toEqual({
      code: 0,
      report: { match: 4, missing_on_dst: [], missing_on_src: [], differ: [] },
    });

    // check --checksum sees a same-size change that a size comparison cannot.
    await dst.put('sub/b.csv', 'x,y\n1,3\n');
    expect((await check(src, dst)).code).toBe(0);
    expect(await check(src, dst, '--checksum')).toEqual({
      code: 1,
      report: { match: 3, missing_on_dst: [], missing_on_src: [], differ: ['sub/b.csv'] },
    });
    expect(await readFile(join(reference.uri, 'sub/b.csv'), 'utf8')).toBe('x,y\n1,2\n');
  });
});

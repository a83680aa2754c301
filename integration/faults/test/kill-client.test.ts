/**
 * `kill -9` of the client at a random point of a large upload, 20 times per backend: no partial
 * object is ever visible at the final key, and the next `log` of the same directory succeeds and
 * leaves no orphans (no temporary or partial file on the server's disk).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactsError } from '@artifacts/core';
import { dataBytes, hashFile, hashStream } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type FaultBackend, localBackend, openThrough } from '../src/backends.ts';

const MiB = 1024 * 1024;
const LARGE = 16 * MiB;
const KILLS = 20;
const TIMEOUT_MS = 30_000;
const CHILD = fileURLToPath(new URL('../src/upload-child.mjs', import.meta.url));

let work: string;
let source: string;
let digest: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-kill-'));
  source = join(work, 'model');
  await mkdir(source);
  await writeFile(join(source, 'weights.bin'), dataBytes(LARGE, { seed: 'kill' }));
  digest = (await hashFile(join(source, 'weights.bin'))).digest;
});
afterAll(() => rm(work, { recursive: true, force: true }));

/** Runs the upload in a child; kills it with SIGKILL `killAfterMs` after it started (or never). */
function upload(
  backend: FaultBackend,
  root: string,
  killAfterMs?: number,
): Promise<{ ms: number; killed: boolean }> {
  const args = [
    CHILD,
    backend.uri(backend.port, root),
    JSON.stringify(backend.options(TIMEOUT_MS, backend.port)),
    source,
    'run',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    let started = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if (started === 0 && chunk.toString().includes('started')) {
        started = Date.now();
        if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ ms: Date.now() - started, killed: true });
      else if (code === 0) resolve({ ms: Date.now() - started, killed: false });
      else reject(new Error(`upload child exited with ${code}: ${stderr}`));
    });
  });
}

const ALL: Record<string, () => Promise<FaultBackend>> = { local: localBackend, ...BACKENDS };

// The backends run at the same time (each its own server, prefix and child processes; vitest's
// maxConcurrency, 5, at most): most of a kill round is a child process loading its SDK, and one
// backend's round after another left a core idle. Each backend's own kills stay one after another.
describe.concurrent.each(Object.keys(ALL))('%s: the client killed mid-upload', (name) => {
  let backend: FaultBackend;
  beforeAll(async () => {
    backend = await (ALL[name] as () => Promise<FaultBackend>)();
  });
  afterAll(() => backend?.stop());

  it(
    `${KILLS} kills at random points: never a partial object; the next log succeeds and leaves no orphans`,
    async () => {
      const root = `kill-${Date.now()}`;
      // How long a whole upload takes here, to spread the kills over it.
      const { ms: full } = await upload(backend, `${root}-timing`);
      const repo = await openThrough(backend, backend.port, root, TIMEOUT_MS);
      const seen: string[] = [];
      try {
        for (let i = 0; i < KILLS; i++) {
          const at = Math.floor(Math.random() * full * 1.1);
          const { killed } = await upload(backend, root, at);
          // The listing first: a killed client's request may still complete on the server after
          // the kill (the kernel delivers what the process had written before it died), so an
          // object can appear late; whenever there is one, it must be whole.
          const listed = (await repo.listArtifacts('run')).map((f) => f.path);
          let info: Awaited<ReturnType<typeof repo.stat>> | undefined;
          try {
            info = await repo.stat('run/weights.bin');
          } catch (error) {
            if (!ArtifactsError.is(error, 'not_found')) throw error;
          }
          seen.push(
            `${at} ms: ${killed ? 'killed' : 'finished'}, ${info ? `object of ${info.fileSize} bytes` : 'no object'}${listed.length > 0 && !info ? ' (listed)' : ''}`,
          );
          expect(listed, seen.join('\n')).toEqual(listed.length > 0 ? ['run/weights.bin'] : []);
          if (listed.length > 0) expect(info, seen.join('\n')).toBeDefined();
          if (info) {
            expect(info.fileSize, seen.join('\n')).toBe(LARGE);
            expect((await hashStream(await repo.openRead('run/weights.bin'))).digest).toBe(digest);
          }
        }
        // Unfinished uploads the server keeps out of sight (S3 multipart uploads, Azure uncommitted
        // blocks): a kill -9 cannot abort them; they must never show, and are reported.
        const pendingAfterKills = (await backend.pendingUploads?.(root, 'run/weights.bin')) ?? [];
        await repo.logArtifacts(source, 'run');
        expect((await hashStream(await repo.openRead('run/weights.bin'))).digest).toBe(digest);
        const disk = await backend.stored(root);
        expect(disk, seen.join('\n')).toContain('run/weights.bin');
        const orphans = disk.filter((file) => file !== 'run/weights.bin');
        expect(orphans, seen.join('\n')).toEqual([]);
        if (backend.pendingUploads) {
          const pendingAfterLog = await backend.pendingUploads(root, 'run/weights.bin');
          console.log(
            `${name}: ${pendingAfterKills.length} unfinished uploads after ${KILLS} kills, ${pendingAfterLog.length} after the next log (invisible to listings and reads): ${pendingAfterLog.join(', ')}`,
          );
          // the next upload of the same file leaves none of its own behind
          expect(pendingAfterLog.length, pendingAfterLog.join('\n')).toBeLessThanOrEqual(
            pendingAfterKills.length,
          );
        }
      } finally {
        await repo.close();
      }
    },
    15 * 60_000,
  );
});

/**
 * The server restarts in the middle of a transfer: the transfer completes or fails clearly (never
 * a partial object at the final key), and the next operation on the same repository succeeds
 * without user action (no stale pooled connection is reused).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError } from '@artifacts/core';
import { dataBytes, hashFile, hashStream, readAll } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type FaultBackend, openThrough } from '../src/backends.ts';
import { describeOutcome, isClearFailure, settle } from '../src/outcome.ts';

const MiB = 1024 * 1024;
const LARGE = 32 * MiB;
const TIMEOUT_MS = 20_000;

let work: string;
let largeFile: string;
let digest: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-restart-'));
  largeFile = join(work, 'large.bin');
  await writeFile(largeFile, dataBytes(LARGE, { seed: 'restart' }));
  digest = (await hashFile(largeFile)).digest;
});
afterAll(() => rm(work, { recursive: true, force: true }));

/**
 * Servers whose launcher cannot restart them with their data: fake-gcs-server runs on its memory
 * backend (its filesystem backend cannot store the conformance suite's 250-byte names), so a restart
 * would lose every object and the bucket.
 */
const CANNOT_RESTART = new Set(['gcs']);

describe.each(Object.keys(BACKENDS).filter((name) => !CANNOT_RESTART.has(name)))(
  '%s restarted mid-transfer',
  (name) => {
    let backend: FaultBackend;
    beforeAll(async () => {
      backend = await (BACKENDS[name] as () => Promise<FaultBackend>)();
    });
    afterAll(() => backend?.stop());

    it(
      'the interrupted upload is whole or absent, and the next operations succeed on the same repository',
      async () => {
        const restart = backend.restart;
        expect(restart, `${name} has no restart`).toBeDefined();
        const repo = await openThrough(backend, backend.port, `restart-${Date.now()}`, TIMEOUT_MS);
        try {
          await repo.write('warm.txt', 'a pooled connection exists before the restart');
          const uploading = settle(() => repo.logArtifact(largeFile, 'up'), TIMEOUT_MS * 4);
          await new Promise((resolve) => setTimeout(resolve, 150));
          await restart?.();
          const outcome = await uploading;
          console.log(`${name}: upload across the restart: ${describeOutcome(outcome)}`);
          expect(outcome.hung, describeOutcome(outcome)).toBe(false);
          if (!outcome.ok) expect(isClearFailure(outcome), describeOutcome(outcome)).toBe(true);
          let present = true;
          try {
            expect((await hashStream(await repo.openRead('up/large.bin'))).digest).toBe(digest);
          } catch (error) {
            if (!ArtifactsError.is(error, 'not_found')) throw error;
            present = false;
          }
          expect(present || !outcome.ok, describeOutcome(outcome)).toBe(true);
          // Without user action: the same repository object, its pool as the restart left it.
          await repo.write('after.txt', 'after the restart');
          expect((await readAll(await repo.openRead('after.txt'))).toString()).toBe('after the restart');
          await repo.logArtifact(largeFile, 'up');
          expect((await hashStream(await repo.openRead('up/large.bin'))).digest).toBe(digest);
        } finally {
          await repo.close();
        }
      },
      10 * 60_000,
    );
  },
);

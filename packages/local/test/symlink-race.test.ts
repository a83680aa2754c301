import { readFile } from 'node:fs/promises';
import { type ArtifactRepository, ArtifactsError, openRepository } from '@artifacts/core';
import { readAll } from '@artifacts/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../src/index.js';
import {
  makeRaceStage,
  type RaceOps,
  type RaceResult,
  type RaceStage,
  removeStage,
  runRace,
} from './race/harness.js';

let stage: RaceStage;
beforeEach(async () => {
  stage = await makeRaceStage();
});
afterEach(() => removeStage(stage));

function libraryOps(repo: ArtifactRepository): RaceOps {
  return {
    read: async (key) => (await readAll(await repo.openRead(key))).toString('utf8'),
    write: (key, body) => repo.write(key, body),
    writeFile: async (key, localPath) => {
      await repo.logArtifact(localPath, key.slice(0, key.lastIndexOf('/')));
    },
    download: async (key, localPath) => {
      const dir = `${localPath}.d`;
      return readFile(await repo.downloadArtifacts(key, await ensureDir(dir)), 'utf8');
    },
    delete: (key) => repo.deleteArtifacts(key),
    list: async (key) => (await repo.listArtifacts(key)).map((entry) => entry.path.slice(key.length + 1)),
    exists: async (key) => {
      try {
        return (await repo.stat(key)).isDir === false;
      } catch (error) {
        if (ArtifactsError.is(error)) return false;
        throw error;
      }
    },
  };
}

async function ensureDir(dir: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  return dir;
}

// The attacker needs renameat2 (Linux); elsewhere the fallback walk is documented as not race-free.
describe.runIf(process.platform === 'linux')(
  'a directory swapped for a link to outside, mid-operation',
  () => {
    it('never lets a read, write, list, stat or delete through the library reach outside, nor leaves temporary files', async () => {
      // Operations at work in one directory share its resolution (SharedDirs): on a loaded machine six
      // workers can keep `d` held for a whole race, so that none resolves it while it is the link and
      // none is refused (seen once at load 45). Races run until one was refused (at most four), each
      // on a fresh stage and each held to every rule below.
      const results: RaceResult[] = [];
      for (let round = 0; round < 4 && !results.some((result) => result.refused > 0); round++) {
        const here = round === 0 ? stage : await makeRaceStage();
        try {
          const repo = await openRepository(here.root);
          results.push(await runRace(here, libraryOps(repo), { seconds: 5, workers: 6 }));
        } finally {
          if (here !== stage) await removeStage(here);
        }
      }
      for (const result of results) {
        expect(result.leaks).toEqual([]);
        expect(result.outsideAfter).toEqual(result.outsideBefore);
        expect(result.tempFiles).toEqual([]);
        // The race really ran: the attacker swapped, and the store kept working in between.
        expect(result.swaps).toBeGreaterThan(1000);
        // Low on purpose: a loaded machine serves few requests, and the point is only that it served some.
        expect(result.succeeded).toBeGreaterThan(10);
      }
      // And the attack was met: some operation resolved `d` while it was the link, and was refused.
      expect(results.some((result) => result.refused > 0)).toBe(true);
    }, 120_000);
  },
);

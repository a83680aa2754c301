import { join } from 'node:path';
import { type ArtifactRepository, ArtifactsError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { dataStream } from '../data.js';
import { HOSTILE_PATHS } from '../path-corpus.js';
import { allFiles, type Context, readText, readTree, tempDir, writeTree } from './context.js';

interface Sandbox {
  file: string;
  dir: string;
  dst: string;
  /** Bytes read from write bodies: must stay 0. */
  bodyBytesRead: number;
}

type Operation = (repo: ArtifactRepository, path: string, sandbox: Sandbox) => Promise<unknown>;

const OPERATIONS: Record<string, Operation> = {
  'logArtifact (artifactPath)': (repo, path, s) => repo.logArtifact(s.file, path),
  'logArtifacts (artifactPath)': (repo, path, s) => repo.logArtifacts(s.dir, path),
  listArtifacts: (repo, path) => repo.listArtifacts(path),
  listArtifactsRecursive: (repo, path) => repo.listArtifactsRecursive(path),
  'downloadArtifacts (artifactPath)': (repo, path, s) => repo.downloadArtifacts(path, s.dst),
  deleteArtifacts: (repo, path) => repo.deleteArtifacts(path),
  openRead: (repo, path) => repo.openRead(path),
  'openRead (ranged)': (repo, path) => repo.openRead(path, { range: { start: 0, end: 10 } }),
  write: (repo, path, s) =>
    repo.write(
      path,
      dataStream(1024, {
        onBytes: (n) => {
          s.bodyBytesRead = n;
        },
      }),
    ),
  'write (string)': (repo, path) => repo.write(path, 'hostile'),
  stat: (repo, path) => repo.stat(path),
  exists: (repo, path) => repo.exists(path),
  createMultipartUpload: (repo, path) => repo.createMultipartUpload(path, 2),
  presignedUrl: (repo, path) => repo.presignedUrl(path, 'GET'),
};

export function safetySuite(ctx: Context): void {
  describe('hostile paths are refused with invalid_argument before any I/O', () => {
    for (const [name, operation] of Object.entries(OPERATIONS)) {
      it(
        name,
        async () => {
          const repo = await ctx.fresh();
          await repo.write('canary/keep.txt', 'canary');
          const root = await tempDir('hostile');
          await writeTree(root, { 'src/file.txt': 'local file', 'srcdir/a.txt': 'A', 'dst/': null });
          const before = await readTree(root);
          const sandbox: Sandbox = {
            file: join(root, 'src', 'file.txt'),
            dir: join(root, 'srcdir'),
            dst: join(root, 'dst'),
            bodyBytesRead: 0,
          };
          const accepted: string[] = [];
          for (const path of HOSTILE_PATHS) {
            try {
              await operation(repo, path, sandbox);
              accepted.push(`${JSON.stringify(path)}: accepted`);
            } catch (error) {
              if (!ArtifactsError.is(error, 'invalid_argument')) {
                const code = ArtifactsError.is(error) ? error.code : 'not an ArtifactsError';
                accepted.push(
                  `${JSON.stringify(path)}: ${code}: ${String((error as Error)?.message ?? error)}`,
                );
              }
            }
          }
          expect(accepted).toEqual([]);
          expect(sandbox.bodyBytesRead).toBe(0);
          expect(await allFiles(repo)).toEqual(['canary/keep.txt']);
          expect(await repo.listArtifacts()).toEqual([{ path: 'canary', isDir: true }]);
          expect(await readText(repo, 'canary/keep.txt')).toBe('canary');
          expect(await readTree(root)).toEqual(before);
        },
        ctx.timeout,
      );
    }
  });
}

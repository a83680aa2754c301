import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAll } from '../data.js';
import { AWKWARD_NAMES } from '../path-corpus.js';
import { allFiles, type Context, readText, readTree, tempDir, writeTree } from './context.js';

export function namesSuite(ctx: Context): void {
  const { timeout, longTimeout } = ctx;

  describe('names, sizes and shapes', () => {
    it(
      'empty files are stored, listed with size 0, read and downloaded as empty',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('empty/written.txt', '');
        await repo.write('empty/bytes.bin', new Uint8Array(0));
        const dir = await tempDir();
        await writeTree(dir, { 'logged.txt': '' });
        await repo.logArtifact(join(dir, 'logged.txt'), 'empty');
        expect(await repo.listArtifacts('empty')).toEqual([
          { path: 'empty/bytes.bin', isDir: false, fileSize: 0 },
          { path: 'empty/logged.txt', isDir: false, fileSize: 0 },
          { path: 'empty/written.txt', isDir: false, fileSize: 0 },
        ]);
        expect((await repo.stat('empty/written.txt')).fileSize).toBe(0);
        expect((await readAll(await repo.openRead('empty/logged.txt'))).length).toBe(0);
        const dst = await tempDir('dst');
        await repo.downloadArtifacts('empty', dst);
        expect(await readTree(dst)).toEqual({
          'empty/bytes.bin': '',
          'empty/logged.txt': '',
          'empty/written.txt': '',
        });
      },
      timeout,
    );

    it(
      'names with spaces, non-ASCII, emoji and URL-special characters round-trip verbatim',
      async () => {
        const repo = await ctx.fresh();
        for (const name of AWKWARD_NAMES) await repo.write(name, `content of ${name}`);
        expect(await allFiles(repo)).toEqual([...AWKWARD_NAMES].sort());
        for (const name of AWKWARD_NAMES) {
          expect(await readText(repo, name)).toBe(`content of ${name}`);
          const stat = await repo.stat(name);
          expect(stat.path).toBe(name);
          expect(stat.fileSize).toBe(Buffer.byteLength(`content of ${name}`));
        }
        expect((await repo.listArtifacts('données')).map((entry) => entry.path)).toEqual([
          'données/été 2024.txt',
        ]);
        const punct = AWKWARD_NAMES.filter((name) => name.startsWith('punct/')).sort();
        expect((await repo.listArtifacts('punct')).map((entry) => entry.path)).toEqual(punct);
        await repo.deleteArtifacts('punct/100% done.txt');
        expect(await repo.exists('punct/%41 literal escape.txt')).toBe(true);
        expect(await repo.exists('punct/100% done.txt')).toBe(false);
      },
      timeout,
    );

    it(
      'a 250-byte file name is uploaded, listed, read and downloaded (temporary names stay within NAME_MAX)',
      async () => {
        const repo = await ctx.fresh();
        const name = `${'n'.repeat(246)}.bin`;
        const src = await tempDir('src');
        await writeTree(src, { [name]: 'long name' });
        await repo.logArtifact(join(src, name), 'long');
        expect(await repo.listArtifacts('long')).toEqual([
          { path: `long/${name}`, isDir: false, fileSize: 9 },
        ]);
        expect(await readText(repo, `long/${name}`)).toBe('long name');
        const dst = await tempDir('dst');
        const local = await repo.downloadArtifacts(`long/${name}`, dst);
        expect(await readFile(local, 'utf8')).toBe('long name');
        expect(await readdir(join(dst, 'long'))).toEqual([name]);
      },
      timeout,
    );

    it(
      'a tree with awkward names is logged and downloaded intact',
      async () => {
        const repo = await ctx.fresh();
        const src = await tempDir('src');
        const tree = Object.fromEntries(AWKWARD_NAMES.map((name) => [name, `content of ${name}`]));
        await writeTree(src, tree);
        await repo.logArtifacts(src, 'logged');
        const dst = await tempDir('dst');
        const result = await repo.downloadArtifacts('logged', dst);
        expect(await readTree(result)).toEqual(tree);
      },
      timeout,
    );

    it(
      'a tree 20 levels deep is logged, listed level by level, downloaded and deleted',
      async () => {
        const repo = await ctx.fresh();
        const levels = Array.from({ length: 20 }, (_, i) => `level${i}`);
        const deep = levels.join('/');
        const src = await tempDir('src');
        await writeTree(src, { [`${deep}/leaf.txt`]: 'leaf', 'level0/side.txt': 'side' });
        await repo.logArtifacts(src, 'deep');
        let prefix = 'deep';
        for (const level of levels) {
          const listed = await repo.listArtifacts(prefix);
          expect(listed.filter((entry) => entry.isDir)).toEqual([
            { path: `${prefix}/${level}`, isDir: true },
          ]);
          prefix = `${prefix}/${level}`;
        }
        expect(await repo.listArtifacts(prefix)).toEqual([
          { path: `${prefix}/leaf.txt`, isDir: false, fileSize: 4 },
        ]);
        expect(await readText(repo, `deep/${deep}/leaf.txt`)).toBe('leaf');
        const dst = await tempDir('dst');
        await repo.downloadArtifacts('deep', dst);
        expect(await readFile(join(dst, 'deep', ...levels, 'leaf.txt'), 'utf8')).toBe('leaf');
        expect(await readFile(join(dst, 'deep', 'level0', 'side.txt'), 'utf8')).toBe('side');
        await repo.deleteArtifacts('deep/level0/level1');
        expect(await allFiles(repo)).toEqual(['deep/level0/side.txt']);
      },
      timeout,
    );

    it(
      `a directory of many files (manyFiles) is logged, listed and downloaded intact`,
      async () => {
        const repo = await ctx.fresh();
        const count = ctx.manyFiles;
        const src = await tempDir('src');
        const names = Array.from({ length: count }, (_, i) => `file-${String(i).padStart(5, '0')}.txt`);
        const tree = Object.fromEntries(
          names.map((name, i) => [`many/${name}`, `#${i} `.repeat(1 + (i % 7))]),
        );
        await writeTree(src, tree);
        await repo.logArtifacts(join(src, 'many'), 'many');
        const listed = await repo.listArtifacts('many');
        expect(listed.length).toBe(count);
        expect(listed.map((entry) => entry.path)).toEqual(names.map((name) => `many/${name}`));
        listed.forEach((entry, i) => {
          expect(entry).toEqual({
            path: `many/${names[i]}`,
            isDir: false,
            fileSize: Buffer.byteLength(tree[`many/${names[i]}`]!),
          });
        });
        const dst = await tempDir('dst');
        const result = await repo.downloadArtifacts('many', dst);
        expect((await readdir(result)).length).toBe(count);
        expect(await readTree(dst)).toEqual(tree);
        expect((await stat(join(result, names[0]!))).size).toBe(Buffer.byteLength(tree[`many/${names[0]}`]!));
      },
      longTimeout,
    );
  });
}

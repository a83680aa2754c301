import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { ProgressEvent } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { readAll } from '../data.js';
import { allFiles, type Context, expectCode, readText, readTree, tempDir, writeTree } from './context.js';

/** MLflow's repository semantics (DESIGN.md "Public API"), on every backend. */
export function semanticsSuite(ctx: Context): void {
  const { timeout } = ctx;

  describe('MLflow semantics', () => {
    it(
      'logArtifact stores a file at <artifactPath>/<basename>, or at the root without one',
      async () => {
        const repo = await ctx.fresh();
        const dir = await tempDir();
        await writeTree(dir, { 'model.pkl': 'weights' });
        const local = join(dir, 'model.pkl');
        await repo.logArtifact(local, 'model');
        await repo.logArtifact(local);
        await repo.logArtifact(local, 'a/b/c');
        expect(await readText(repo, 'model/model.pkl')).toBe('weights');
        expect(await readText(repo, 'model.pkl')).toBe('weights');
        expect(await readText(repo, 'a/b/c/model.pkl')).toBe('weights');
        expect(await allFiles(repo)).toEqual(['a/b/c/model.pkl', 'model.pkl', 'model/model.pkl']);
      },
      timeout,
    );

    it(
      'logArtifacts uploads the contents of a tree, keeping relative paths',
      async () => {
        const repo = await ctx.fresh();
        const dir = await tempDir();
        const tree = { 'a.txt': 'A', 'sub/b.txt': 'B', 'sub/deeper/c.txt': 'C' };
        await writeTree(dir, tree);
        await repo.logArtifacts(dir, 'plots');
        await repo.logArtifacts(dir);
        expect(await allFiles(repo)).toEqual([
          'a.txt',
          'plots/a.txt',
          'plots/sub/b.txt',
          'plots/sub/deeper/c.txt',
          'sub/b.txt',
          'sub/deeper/c.txt',
        ]);
        for (const [path, content] of Object.entries(tree)) {
          expect(await readText(repo, `plots/${path}`)).toBe(content);
          expect(await readText(repo, path)).toBe(content);
        }
      },
      timeout,
    );

    it(
      'listArtifacts returns direct children sorted by path, relative to the root; directories have no size',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('dir/b.txt', 'bb');
        await repo.write('dir/a.txt', 'a');
        await repo.write('dir/Z.txt', 'zzz');
        await repo.write('dir/sub/c.txt', 'cccc');
        await repo.write('dir/sub/deeper/d.txt', 'd');
        await repo.write('top.txt', 'top!');
        const listed = await repo.listArtifacts('dir');
        expect(listed).toEqual([
          { path: 'dir/Z.txt', isDir: false, fileSize: 3 },
          { path: 'dir/a.txt', isDir: false, fileSize: 1 },
          { path: 'dir/b.txt', isDir: false, fileSize: 2 },
          { path: 'dir/sub', isDir: true },
        ]);
        expect(listed[3]!.fileSize).toBeUndefined();
        expect(await repo.listArtifacts('dir/sub')).toEqual([
          { path: 'dir/sub/c.txt', isDir: false, fileSize: 4 },
          { path: 'dir/sub/deeper', isDir: true },
        ]);
        const root = [
          { path: 'dir', isDir: true },
          { path: 'top.txt', isDir: false, fileSize: 4 },
        ];
        expect(await repo.listArtifacts()).toEqual(root);
        expect(await repo.listArtifacts('')).toEqual(root);
        expect(await repo.listArtifacts('dir/')).toEqual(listed);
      },
      timeout,
    );

    it(
      'listArtifacts of a missing path or of a file path returns []',
      async () => {
        const repo = await ctx.fresh();
        expect(await repo.listArtifacts()).toEqual([]);
        expect(await repo.listArtifacts('missing')).toEqual([]);
        await repo.write('dir/file.txt', 'x');
        expect(await repo.listArtifacts('missing')).toEqual([]);
        expect(await repo.listArtifacts('dir/missing/deeper')).toEqual([]);
        expect(await repo.listArtifacts('dir/file.txt')).toEqual([]);
        expect(await repo.listArtifacts('dir/fil')).toEqual([]);
      },
      timeout,
    );

    it(
      'deleteArtifacts removes the exact path and its subtree, never a sibling sharing its prefix',
      async () => {
        const repo = await ctx.fresh();
        for (const path of [
          'foo/a.txt',
          'foo/sub/b.txt',
          'foobar',
          'foo.txt',
          'foo.txt.bak',
          'foo_dir/c.txt',
          'foo bar/d.txt',
          'fo/e.txt',
          'x/foo/f.txt',
          'x/foobar/g.txt',
        ]) {
          await repo.write(path, path);
        }
        await repo.deleteArtifacts('foo');
        await expectCode(repo.stat('foo'), 'not_found');
        await expectCode(repo.stat('foo/a.txt'), 'not_found');
        expect(await allFiles(repo)).toEqual([
          'fo/e.txt',
          'foo bar/d.txt',
          'foo.txt',
          'foo.txt.bak',
          'foo_dir/c.txt',
          'foobar',
          'x/foo/f.txt',
          'x/foobar/g.txt',
        ]);
        await repo.deleteArtifacts('foo.txt');
        await repo.deleteArtifacts('x/foo');
        expect(await allFiles(repo)).toEqual([
          'fo/e.txt',
          'foo bar/d.txt',
          'foo.txt.bak',
          'foo_dir/c.txt',
          'foobar',
          'x/foobar/g.txt',
        ]);
        expect(await readText(repo, 'foobar')).toBe('foobar');
        expect(await readText(repo, 'x/foobar/g.txt')).toBe('x/foobar/g.txt');
      },
      timeout,
    );

    it(
      'deleteArtifacts is idempotent: deleting nothing, or twice, is not an error',
      async () => {
        const repo = await ctx.fresh();
        await repo.deleteArtifacts('never/existed');
        await repo.deleteArtifacts();
        await repo.write('dir/a.txt', 'a');
        await repo.deleteArtifacts('dir');
        await repo.deleteArtifacts('dir');
        await repo.deleteArtifacts('dir/a.txt');
        expect(await repo.listArtifacts()).toEqual([]);
      },
      timeout,
    );

    it(
      'deleteArtifacts of the root empties the repository, which stays usable',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('a.txt', 'a');
        await repo.write('dir/b.txt', 'b');
        await repo.write('dir/sub/c.txt', 'c');
        await repo.deleteArtifacts();
        expect(await repo.listArtifacts()).toEqual([]);
        expect(await allFiles(repo)).toEqual([]);
        await repo.write('again.txt', 'again');
        expect(await readText(repo, 'again.txt')).toBe('again');
      },
      timeout,
    );

    it(
      'downloadArtifacts of a file returns <dst>/<path>',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('model/weights.bin', 'W');
        await repo.write('model/other.bin', 'O');
        const dst = await tempDir('dst');
        const result = await repo.downloadArtifacts('model/weights.bin', dst);
        expect(result).toBe(join(dst, 'model', 'weights.bin'));
        expect(await readFile(result, 'utf8')).toBe('W');
        expect(await readTree(dst)).toEqual({ 'model/weights.bin': 'W' });
      },
      timeout,
    );

    it(
      'downloadArtifacts of a directory returns <dst>/<path> holding the whole subtree',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('plots/a.png', 'A');
        await repo.write('plots/sub/b.png', 'B');
        await repo.write('plotsx/c.png', 'C');
        await repo.write('other.txt', 'O');
        const dst = await tempDir('dst');
        const result = await repo.downloadArtifacts('plots', dst);
        expect(result).toBe(join(dst, 'plots'));
        expect(await readTree(dst)).toEqual({ 'plots/a.png': 'A', 'plots/sub/b.png': 'B' });
      },
      timeout,
    );

    it(
      'downloadArtifacts of the root downloads everything into dst',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('a.txt', 'A');
        await repo.write('dir/b.txt', 'B');
        const dst = await tempDir('dst');
        const result = await repo.downloadArtifacts(undefined, dst);
        expect(resolve(result)).toBe(resolve(dst));
        expect(await readTree(dst)).toEqual({ 'a.txt': 'A', 'dir/b.txt': 'B' });
      },
      timeout,
    );

    it(
      'downloadArtifacts without dst downloads into a new temporary directory each time',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('model/x.txt', 'X');
        const first = await repo.downloadArtifacts('model/x.txt');
        const second = await repo.downloadArtifacts('model');
        try {
          expect(first.endsWith(join('model', 'x.txt'))).toBe(true);
          expect(second.endsWith('model')).toBe(true);
          expect(await readFile(first, 'utf8')).toBe('X');
          expect(await readFile(join(second, 'x.txt'), 'utf8')).toBe('X');
          const firstRoot = resolve(first, '..', '..');
          const secondRoot = resolve(second, '..');
          expect(firstRoot).not.toBe(secondRoot);
          expect(firstRoot).not.toBe(process.cwd());
        } finally {
          await rm(resolve(first, '..', '..'), { recursive: true, force: true });
          await rm(resolve(second, '..'), { recursive: true, force: true });
        }
      },
      timeout,
    );

    it(
      'downloadArtifacts into a dst that is not an existing directory fails and writes nothing',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('a.txt', 'A');
        const dir = await tempDir();
        await writeFile(join(dir, 'file'), 'keep');
        await expectCode(repo.downloadArtifacts('a.txt', join(dir, 'file')), 'failed_precondition');
        await expectCode(repo.downloadArtifacts('a.txt', join(dir, 'missing')), 'not_found');
        expect(await readTree(dir)).toEqual({ file: 'keep' });
      },
      timeout,
    );

    it(
      'downloadArtifacts of a missing artifact is not_found and writes nothing',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('present.txt', 'P');
        const dst = await tempDir('dst');
        const error = await expectCode(repo.downloadArtifacts('missing/file.txt', dst), 'not_found');
        expect(error.message).toContain('missing/file.txt');
        await expectCode(repo.downloadArtifacts('missing', dst), 'not_found');
        expect(await readdir(dst)).toEqual([]);
      },
      timeout,
    );

    it(
      'openRead and stat of a missing artifact are not_found; openRead of a directory is not_found',
      async () => {
        const repo = await ctx.fresh();
        await expectCode(repo.openRead('missing.txt'), 'not_found');
        await expectCode(repo.stat('missing.txt'), 'not_found');
        await repo.write('dir/file.txt', 'F');
        await expectCode(repo.openRead('dir/missing.txt'), 'not_found');
        await expectCode(repo.openRead('dir'), 'not_found');
        await expectCode(repo.openRead('dir/file.txt/below'), 'not_found');
        expect(await repo.exists('dir/file.txt')).toBe(true);
        expect(await repo.exists('dir/missing.txt')).toBe(false);
      },
      timeout,
    );

    it(
      'stat reports a file with its size and a directory without one',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('dir/file.txt', 'twelve bytes');
        const file = await repo.stat('dir/file.txt');
        expect(file).toMatchObject({ path: 'dir/file.txt', isDir: false, fileSize: 12 });
        const dir = await repo.stat('dir');
        expect(dir).toMatchObject({ path: 'dir', isDir: true });
        expect(dir.fileSize).toBeUndefined();
      },
      timeout,
    );

    it(
      'write replaces the content of an existing artifact',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('a.txt', 'a much longer first content');
        await repo.write('a.txt', 'short');
        expect(await readText(repo, 'a.txt')).toBe('short');
        expect((await repo.stat('a.txt')).fileSize).toBe(5);
        expect(await repo.listArtifacts()).toEqual([{ path: 'a.txt', isDir: false, fileSize: 5 }]);
        const dir = await tempDir();
        await writeTree(dir, { 'a.txt': 'from a file' });
        await repo.logArtifact(join(dir, 'a.txt'));
        expect(await readText(repo, 'a.txt')).toBe('from a file');
      },
      timeout,
    );

    it(
      'write accepts a string, a Uint8Array, a Node Readable and a web ReadableStream',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('string.txt', 'été ✓');
        await repo.write('bytes.bin', new Uint8Array([0, 1, 2, 255]));
        await repo.write('node.txt', Readable.from([Buffer.from('node '), Buffer.from('readable')]));
        const encoder = new TextEncoder();
        await repo.write(
          'web.txt',
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode('web '));
              controller.enqueue(encoder.encode('stream'));
              controller.close();
            },
          }),
        );
        expect(await readText(repo, 'string.txt')).toBe('été ✓');
        expect([...(await readAll(await repo.openRead('bytes.bin')))]).toEqual([0, 1, 2, 255]);
        expect(await readText(repo, 'node.txt')).toBe('node readable');
        expect(await readText(repo, 'web.txt')).toBe('web stream');
        expect((await repo.stat('string.txt')).fileSize).toBe(Buffer.byteLength('été ✓'));
      },
      timeout,
    );

    it(
      'progress events reach their totals for write, logArtifact, logArtifacts and downloadArtifacts',
      async () => {
        const repo = await ctx.fresh();
        const last = (events: ProgressEvent[]) => events.at(-1);
        const events: ProgressEvent[] = [];
        await repo.write('w.txt', 'x'.repeat(1000), { onProgress: (e) => events.push(e) });
        expect(last(events)).toMatchObject({
          bytesDone: 1000,
          bytesTotal: 1000,
          filesDone: 1,
          filesTotal: 1,
        });

        const dir = await tempDir();
        await writeTree(dir, {
          'one.txt': '1'.repeat(100),
          'sub/two.txt': '2'.repeat(200),
          'sub/three.txt': '',
        });
        const single: ProgressEvent[] = [];
        await repo.logArtifact(join(dir, 'one.txt'), 'single', { onProgress: (e) => single.push(e) });
        expect(last(single)).toMatchObject({ bytesDone: 100, bytesTotal: 100, filesDone: 1, filesTotal: 1 });

        const tree: ProgressEvent[] = [];
        await repo.logArtifacts(dir, 'tree', { onProgress: (e) => tree.push(e) });
        expect(last(tree)).toMatchObject({ bytesDone: 300, bytesTotal: 300, filesDone: 3, filesTotal: 3 });
        for (let i = 1; i < tree.length; i++) {
          expect(tree[i]!.bytesDone).toBeGreaterThanOrEqual(tree[i - 1]!.bytesDone);
        }

        const down: ProgressEvent[] = [];
        await repo.downloadArtifacts('tree', await tempDir('dst'), { onProgress: (e) => down.push(e) });
        expect(last(down)).toMatchObject({ bytesDone: 300, bytesTotal: 300, filesDone: 3, filesTotal: 3 });
      },
      timeout,
    );

    it(
      'bad local inputs fail clearly and write nothing',
      async () => {
        const repo = await ctx.fresh();
        const dir = await tempDir();
        await writeTree(dir, { 'file.txt': 'F', 'sub/inner.txt': 'I' });
        await expectCode(repo.logArtifact(join(dir, 'missing.txt'), 'x'), 'not_found');
        await expectCode(repo.logArtifacts(join(dir, 'missing-dir'), 'x'), 'not_found');
        await expectCode(repo.logArtifact(join(dir, 'sub'), 'x'), 'failed_precondition');
        await expectCode(repo.logArtifacts(join(dir, 'file.txt'), 'x'), 'failed_precondition');
        expect(await allFiles(repo)).toEqual([]);
        expect((await stat(join(dir, 'file.txt'))).isFile()).toBe(true);
      },
      timeout,
    );

    it(
      'a closed repository refuses further calls; close is idempotent',
      async () => {
        const repo = await ctx.fresh();
        await repo.close();
        await repo.close();
        await expectCode(repo.listArtifacts(), 'failed_precondition');
        await expectCode(repo.openRead('a.txt'), 'failed_precondition');
        await expectCode(repo.write('b.txt', 'b'), 'failed_precondition');
      },
      timeout,
    );
  });
}

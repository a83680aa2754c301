import { join } from 'node:path';
import { copyArtifacts, copyFiles, type DriverCapabilities } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { dataBytes, readAll } from '../data.js';
import {
  allFiles,
  type Context,
  expectAbsent,
  expectCode,
  MiB,
  readTree,
  tempDir,
  writeTree,
} from './context.js';

/** What `fetch` needs for a presigned or part URL: the URL and the headers the store asked for. */
async function put(url: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  const response = await fetch(url, { method: 'PUT', body, headers });
  if (!response.ok) {
    throw new Error(
      `PUT to a presigned URL answered ${response.status}: ${(await response.text()).slice(0, 500)}`,
    );
  }
  return response;
}

/** Cases that depend on `repo.capabilities`: each capability is either exercised or shown to be refused. */
export function capabilitiesSuite(ctx: Context, caps: DriverCapabilities): void {
  const { timeout } = ctx;

  describe(`capabilities (${describeCaps(caps)})`, () => {
    if (caps.directories) {
      it(
        'directories: empty directories are uploaded, listed and recreated on download',
        async () => {
          const repo = await ctx.fresh();
          const src = await tempDir('src');
          await writeTree(src, { 'a.txt': 'A', 'empty/': null, 'nested/empty/': null, 'nested/b.txt': 'B' });
          await repo.logArtifacts(src, 'tree');
          expect(await repo.listArtifacts('tree')).toEqual([
            { path: 'tree/a.txt', isDir: false, fileSize: 1 },
            { path: 'tree/empty', isDir: true },
            { path: 'tree/nested', isDir: true },
          ]);
          expect(await repo.listArtifacts('tree/empty')).toEqual([]);
          expect((await repo.stat('tree/nested/empty')).isDir).toBe(true);
          const dst = await tempDir('dst');
          await repo.downloadArtifacts('tree', dst);
          expect(await readTree(join(dst, 'tree'))).toEqual({
            'a.txt': 'A',
            'empty/': null,
            'nested/empty/': null,
            'nested/b.txt': 'B',
          });
          await repo.deleteArtifacts('tree/empty');
          await expectCode(repo.stat('tree/empty'), 'not_found');
        },
        timeout,
      );
    } else {
      it(
        'no directories: logging a tree with empty directories stores its files',
        async () => {
          const repo = await ctx.fresh();
          const src = await tempDir('src');
          await writeTree(src, { 'a.txt': 'A', 'empty/': null, 'nested/empty/': null, 'nested/b.txt': 'B' });
          await repo.logArtifacts(src, 'tree');
          expect(await allFiles(repo)).toEqual(['tree/a.txt', 'tree/nested/b.txt']);
          const dst = await tempDir('dst');
          await repo.downloadArtifacts('tree', dst);
          expect(await readTree(join(dst, 'tree'))).toEqual({ 'a.txt': 'A', 'nested/b.txt': 'B' });
        },
        timeout,
      );
    }

    if (caps.multipartUpload) {
      it(
        'multipartUpload: create, PUT the parts with fetch, complete; the artifact holds the parts in order',
        async () => {
          const repo = await ctx.fresh();
          const first = dataBytes(5 * MiB, { seed: 'part-1' });
          const second = dataBytes(123_457, { seed: 'part-2' });
          const upload = await repo.createMultipartUpload('mpu/model.bin', 2);
          expect(upload.credentials.map((c) => c.partNumber)).toEqual([1, 2]);
          const parts = [];
          for (const [i, body] of [first, second].entries()) {
            const credential = upload.credentials[i]!;
            const response = await put(credential.url, body, credential.headers);
            // As MLflow's client does: the ETag header, '' when the store sends none (Azure blocks).
            parts.push({
              partNumber: credential.partNumber,
              etag: response.headers.get('etag') ?? '',
              url: credential.url,
            });
          }
          await repo.completeMultipartUpload('mpu/model.bin', upload.uploadId, parts);
          const stored = await readAll(await repo.openRead('mpu/model.bin'));
          expect(stored.length).toBe(first.length + second.length);
          expect(stored.equals(Buffer.concat([first, second]))).toBe(true);
          expect(await allFiles(repo)).toEqual(['mpu/model.bin']);
        },
        timeout,
      );

      it(
        'multipartUpload: an aborted upload leaves nothing at the key',
        async () => {
          const repo = await ctx.fresh();
          const upload = await repo.createMultipartUpload('mpu/aborted.bin', 2);
          const credential = upload.credentials[0]!;
          await put(credential.url, dataBytes(5 * MiB, { seed: 'aborted-part' }), credential.headers);
          await repo.abortMultipartUpload('mpu/aborted.bin', upload.uploadId);
          await expectAbsent(repo, 'mpu/aborted.bin');
          expect(await allFiles(repo)).toEqual([]);
        },
        timeout,
      );
    } else {
      it(
        'no multipartUpload: multipart calls are refused with unsupported',
        async () => {
          const repo = await ctx.fresh();
          await expectCode(repo.createMultipartUpload('mpu/model.bin', 2), 'unsupported');
          await expectCode(
            repo.completeMultipartUpload('mpu/model.bin', 'id', [{ partNumber: 1, etag: 'x' }]),
            'unsupported',
          );
          await expectCode(repo.abortMultipartUpload('mpu/model.bin', 'id'), 'unsupported');
          expect(await allFiles(repo)).toEqual([]);
        },
        timeout,
      );
    }

    if (caps.serverSideCopy) {
      it(
        'serverSideCopy: copyArtifacts within the store lets the store copy a tree, byte for byte, no sibling',
        async () => {
          const repo = await ctx.fresh();
          const big = dataBytes(3 * MiB + 17, { seed: 'copy' });
          await repo.write('src/big.bin', big);
          await repo.write('src/deep/small.txt', 'small');
          await repo.write('src2/sibling.txt', 'not copied');
          const result = await copyArtifacts({ repo, path: 'src' }, { repo, path: 'dst' });
          expect(result).toEqual({ files: 2, bytes: big.length + 5, serverSide: 2 });
          expect(Buffer.compare(await readAll(await repo.openRead('dst/big.bin')), big)).toBe(0);
          expect((await readAll(await repo.openRead('dst/deep/small.txt'))).toString()).toBe('small');
          expect((await allFiles(repo)).filter((path) => path.startsWith('dst'))).toEqual([
            'dst/big.bin',
            'dst/deep/small.txt',
          ]);
          await expectCode(
            copyFiles([
              { from: repo, fromPath: 'src/missing.bin', to: repo, toPath: 'dst/missing.bin', size: 1 },
            ]),
            'not_found',
          );
          await expectAbsent(repo, 'dst/missing.bin');
        },
        timeout,
      );
    }

    if (caps.presign) {
      it(
        'presign: a presigned PUT stores the bytes and a presigned GET returns them',
        async () => {
          const repo = await ctx.fresh();
          const body = dataBytes(200_003, { seed: 'presign' });
          const putUrl = await repo.presignedUrl('presigned/data.bin', 'PUT');
          // Azure's Put Blob refuses a PUT without `x-ms-blob-type` (a SAS URL cannot carry it, see the
          // azure README); S3 and GCS ignore a header their signature does not cover.
          await put(putUrl, body, { 'x-ms-blob-type': 'BlockBlob' });
          expect((await repo.stat('presigned/data.bin')).fileSize).toBe(body.length);
          const getUrl = await repo.presignedUrl('presigned/data.bin', 'GET');
          const response = await fetch(getUrl);
          expect(response.status).toBe(200);
          expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
        },
        timeout,
      );
    } else {
      it(
        'no presign: presignedUrl is refused with unsupported',
        async () => {
          const repo = await ctx.fresh();
          await expectCode(repo.presignedUrl('a.bin', 'GET'), 'unsupported');
          await expectCode(repo.presignedUrl('a.bin', 'PUT'), 'unsupported');
        },
        timeout,
      );
    }
  });
}

function describeCaps(caps: DriverCapabilities): string {
  const on = (Object.entries(caps) as Array<[string, unknown]>)
    .filter(([, value]) => value === true || (Array.isArray(value) && value.length > 0))
    .map(([name, value]) => (Array.isArray(value) ? `${name}: ${value.join('/')}` : name));
  return on.length ? on.join(', ') : 'none';
}

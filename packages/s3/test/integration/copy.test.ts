import { copyArtifacts, openRepository } from '@artifacts/core';
import { describeServerSideCopy } from '@artifacts/testkit';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { adminClient, env, prefixOf, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
const admin = adminClient();
// Read when the suite starts: the servers' addresses are known only then.
const server = () => new URL(env('MLFLOW_S3_ENDPOINT_URL'));

afterAll(() => admin.destroy());

describeServerSideCopy('s3 on MinIO', {
  get target() {
    return { host: server().hostname, port: Number(server().port) };
  },
  open: (via, root = uniqueRoot('copy')) =>
    openRepository(root, {
      endpointUrl: via ? `${server().protocol}//${via.host}:${via.port}` : env('MLFLOW_S3_ENDPOINT_URL'),
      // A 5 MiB cutoff sends the 21 MiB object through the multipart copy (3 parts of 8 MiB).
      copyCutoffBytes: 5 * MiB,
    }),
  bytes: 21 * MiB,
  checkNativeCopy: async (dst, path) => {
    // A multipart ETag names its part count: 21 MiB in parts of 8 MiB, by UploadPartCopy.
    const key = `${prefixOf(dst.uri)}/${path}/weights.bin`;
    const head = await admin.send(new HeadObjectCommand({ Bucket: env('ARTIFACTS_IT_S3_BUCKET'), Key: key }));
    expect(head.ETag).toMatch(/-3"$/);
    const uploads = await admin.send(
      new ListMultipartUploadsCommand({
        Bucket: env('ARTIFACTS_IT_S3_BUCKET'),
        Prefix: `${prefixOf(dst.uri)}/`,
      }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  },
});

describe('s3 on MinIO: server-side copy of a name with reserved characters', () => {
  it("names the source in x-amz-copy-source so that S3 finds it (!'()* space ~ % + & = ? é), by CopyObject and by UploadPartCopy", async () => {
    const open = () =>
      openRepository(uniqueRoot('copy-name'), {
        endpointUrl: env('MLFLOW_S3_ENDPOINT_URL'),
        copyCutoffBytes: 5 * MiB,
      });
    const [src, dst] = await Promise.all([open(), open()]);
    try {
      const name = "dir (1)/it's *new*! ~2 50% a+b&c=d? é";
      const big = Buffer.alloc(6 * MiB, 7);
      await src.write(`${name}/small.txt`, 'small');
      await src.write(`${name}/big.bin`, big);
      const result = await copyArtifacts({ repo: src, path: name }, { repo: dst, path: name });
      expect(result).toEqual({ files: 2, bytes: big.length + 5, serverSide: 2 });
      const read = async (path: string) => Buffer.concat(await (await dst.openRead(path)).toArray());
      expect((await read(`${name}/small.txt`)).toString()).toBe('small');
      expect((await read(`${name}/big.bin`)).equals(big)).toBe(true);
    } finally {
      for (const repo of [src, dst]) {
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close();
      }
    }
  }, 120_000);
});

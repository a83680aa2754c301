import { openRepository } from '@artifacts/core';
import { describeServerSideCopy } from '@artifacts/testkit';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, expect } from 'vitest';
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

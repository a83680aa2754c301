import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { imageRef, serverImage } from '../src/images.js';
import { IT_ROOT } from '../src/util.js';

// The image tags are content hashes: what `pnpm servers images` skips and what the tests require.
describe('image tags', () => {
  const entrypoint = join(IT_ROOT, 'images', 'sshd', 'entrypoint.sh');
  const original = readFileSync(entrypoint, 'utf8');
  afterEach(() => writeFileSync(entrypoint, original));

  it('are stable for the same inputs and change with the Dockerfile directory', async () => {
    const a = await imageRef('sshd');
    expect(a).toMatch(/^artifacts-it\/sshd:[0-9a-f]{12}$/);
    expect(await imageRef('sshd')).toBe(a);
    writeFileSync(entrypoint, `${original}# changed\n`);
    expect(await imageRef('sshd')).not.toBe(a);
    writeFileSync(entrypoint, original);
    expect(await imageRef('sshd')).toBe(a);
  });

  it('change with the base image', async () => {
    const before = await imageRef('mlflow');
    process.env.ARTIFACTS_IT_DEBIAN_BASE = 'debian:bookworm-20260101-slim';
    try {
      expect(await imageRef('mlflow')).not.toBe(before);
    } finally {
      delete process.env.ARTIFACTS_IT_DEBIAN_BASE;
    }
    expect(await imageRef('mlflow')).toBe(before);
  });
});

describe('image overrides', () => {
  it('name a server with a dash by its variable with an underscore (ARTIFACTS_IT_IMAGE_HDFS_KERBEROS)', async () => {
    process.env.ARTIFACTS_IT_IMAGE_HDFS_KERBEROS = 'example.test/kdc:1';
    try {
      expect(await serverImage('hdfs-kerberos')).toBe('example.test/kdc:1');
    } finally {
      delete process.env.ARTIFACTS_IT_IMAGE_HDFS_KERBEROS;
    }
  });
});

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IMAGE_IDS, imageBuildArgs, imageRef, serverImage } from '../src/images.js';
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

// An ARG the build does not set is empty: `uv==` or `mlflow==` would fail only in a 25-minute build.
describe('image build arguments', () => {
  it('give every ARG of every Dockerfile (but the base) a value', async () => {
    for (const id of IMAGE_IDS.filter((i) => i !== 'debian')) {
      const dockerfile = readFileSync(join(IT_ROOT, 'images', id, 'Dockerfile'), 'utf8');
      const declared = [...dockerfile.matchAll(/^ARG (\w+)/gm)]
        .map((m) => m[1] ?? '')
        .filter((a) => a !== 'BASE');
      const given = await imageBuildArgs(id);
      for (const a of declared) expect(given[a], `${id}: ARG ${a}`).toBeTruthy();
    }
  });

  it("install MLflow with the native install's pins, uv included", async () => {
    const m = await import('../src/servers/mlflow.js');
    expect(await imageBuildArgs('mlflow')).toEqual({
      MLFLOW_VERSION: m.MLFLOW_VERSION,
      BOTO3_VERSION: m.BOTO3_VERSION,
      DEPENDENCIES_FROM: m.DEPENDENCIES_FROM,
      UV_VERSION: m.UV_VERSION,
    });
  });
});

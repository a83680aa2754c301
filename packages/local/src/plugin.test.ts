import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArtifactUri } from '@artifacts/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBackend, localSettings } from './plugin.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'artifacts-local-settings-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const context = { location: parseArtifactUri('/tmp'), maxConcurrency: 4 };

describe('local settings', () => {
  it('refuses an unknown option with the closest name', async () => {
    await expect(
      (async () => localBackend.open(parseArtifactUri(dir), { fsynk: true } as never, context))(),
    ).rejects.toThrow(/unknown option "fsynk" for @artifacts\/local; did you mean "fsync"\?/);
  });

  it('refuses a buffer size that is not a positive integer', async () => {
    await expect(
      (async () => localBackend.open(parseArtifactUri(dir), { highWaterMark: 0 }, context))(),
    ).rejects.toThrow(/option highWaterMark must be an integer >= 1/);
  });

  it('reads in chunks of readHighWaterMark, whatever highWaterMark (the write size) is', async () => {
    const driver = await localBackend.open(
      parseArtifactUri(dir),
      { readHighWaterMark: 4096, highWaterMark: 1024 * 1024 },
      context,
    );
    const bytes = Buffer.alloc(10_000, 7);
    await driver.write('chunks.bin', Readable.from([bytes]), {});
    const chunks: number[] = [];
    const whole = await driver.read('chunks.bin', {});
    for await (const chunk of whole.stream) chunks.push((chunk as Buffer).length);
    expect(chunks).toEqual([4096, 4096, 1808]);
    const ranged = await driver.read('chunks.bin', { range: { start: 100, end: 8291 } });
    chunks.length = 0;
    for await (const chunk of ranged.stream) chunks.push((chunk as Buffer).length);
    expect(chunks).toEqual([4096, 4096]);
    await expect(
      (async () => localBackend.open(parseArtifactUri(dir), { readHighWaterMark: 0 }, context))(),
    ).rejects.toThrow(/option readHighWaterMark must be an integer >= 1/);
  });

  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(localSettings.markdownTable());
  });
});

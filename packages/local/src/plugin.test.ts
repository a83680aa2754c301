import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(localSettings.markdownTable());
  });
});

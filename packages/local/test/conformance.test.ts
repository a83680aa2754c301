import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import { afterAll } from 'vitest';
import '../src/index.js';

const base = await mkdtemp(join(tmpdir(), 'artifacts-local-conformance-'));
let n = 0;
afterAll(() => rm(base, { recursive: true, force: true }));

// Every test gets a root that does not exist yet: the backend must create it on first write.
describeConformance('local (plain paths)', {
  open: () => openRepository(join(base, `plain-${n++}`, 'artifacts')),
});

describeConformance('local (file: URIs)', {
  open: () => openRepository(`file://${join(base, `uri-${n++}`, 'été 2024')}`.replace(/ /g, '%20')),
  largeFileBytes: 32 * 1024 * 1024,
});

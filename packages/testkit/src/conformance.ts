import type { ArtifactRepository } from '@artifacts/core';
import { describe, onTestFinished } from 'vitest';
import { capabilitiesSuite } from './internal/capabilities.js';
import { type Context, MiB } from './internal/context.js';
import { largeSuite } from './internal/large.js';
import { namesSuite } from './internal/names.js';
import { safetySuite } from './internal/safety.js';
import { semanticsSuite } from './internal/semantics.js';
import { transfersSuite } from './internal/transfers.js';

export interface ConformanceOptions {
  /**
   * Opens a fresh, EMPTY repository. Called once per test (and once while collecting, to read
   * `repo.capabilities`); give each call its own root (a unique directory or key prefix). The suite
   * deletes the repository's contents and closes it when each test finishes.
   */
  open: () => Promise<ArtifactRepository>;
  /** Size of the large file streamed both ways. Default 256 MiB. */
  largeFileBytes?: number;
  /** Number of files in the many-files directory. Default 1000. */
  manyFiles?: number;
  /**
   * Largest RSS growth allowed while the large file streams. Default 160 MiB: well under the 256 MiB
   * file (a backend that buffers it fails), with room for a garbage collector that lags on a busy machine.
   */
  maxRssGrowthBytes?: number;
  /** Timeout of each ordinary test in ms. Default 120000. */
  testTimeoutMs?: number;
  /** Timeout of the large-file and many-files tests in ms. Default 900000. */
  longTestTimeoutMs?: number;
}

/**
 * Registers the @artifacts conformance suite under `describe(name)`: MLflow semantics, names,
 * shapes, transfers, aborts, hostile paths, large files with memory checks, and the cases of each
 * capability the repository declares. Call it at the top level of a vitest test file.
 */
export function describeConformance(name: string, options: ConformanceOptions): void {
  if (typeof options?.open !== 'function') {
    throw new TypeError('describeConformance: options.open must be a function returning a fresh repository');
  }
  const ctx: Context = {
    async fresh() {
      const repo = await options.open();
      onTestFinished(async () => {
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close().catch(() => undefined);
      });
      return repo;
    },
    largeFileBytes: options.largeFileBytes ?? 256 * MiB,
    manyFiles: options.manyFiles ?? 1000,
    maxRssGrowthBytes: options.maxRssGrowthBytes ?? 160 * MiB,
    timeout: options.testTimeoutMs ?? 120_000,
    longTimeout: options.longTestTimeoutMs ?? 900_000,
  };
  describe(name, async () => {
    // Capabilities decide which cases exist, so they are read while collecting, not while running.
    const probe = await options.open();
    const capabilities = probe.capabilities;
    await probe.close();
    // Large files first: RSS is measured against a baseline not yet inflated by earlier tests.
    largeSuite(ctx);
    semanticsSuite(ctx);
    namesSuite(ctx);
    transfersSuite(ctx);
    safetySuite(ctx);
    capabilitiesSuite(ctx, capabilities);
  });
}

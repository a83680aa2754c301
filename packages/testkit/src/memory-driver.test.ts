import { openRepository, registerBackend } from '@artifacts/core';
import { describeConformance } from './conformance.js';
import { MiB } from './internal/context.js';
import { memoryBackend } from './memory-driver.js';

const plugin = memoryBackend('memory-conformance');
registerBackend(plugin);
let n = 0;

// The suite's own reference run: the memory store holds everything in RAM, so the large file stays
// small and the RSS bound does not apply to it.
describeConformance('memory driver', {
  open: () => openRepository(`memory-conformance://store/run-${++n}`),
  largeFileBytes: 8 * MiB,
  manyFiles: 200,
  maxRssGrowthBytes: 512 * MiB,
});

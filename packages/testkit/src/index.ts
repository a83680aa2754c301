export type { ConformanceOptions } from './conformance.js';
export { describeConformance } from './conformance.js';
export type { DataStreamOptions, HashResult } from './data.js';
export { dataBytes, dataStream, hashData, hashFile, hashStream, readAll } from './data.js';
export type { MemoryReport, MemorySampler } from './memory.js';
export { sampleMemory } from './memory.js';
export { AWKWARD_NAMES, HOSTILE_PATHS } from './path-corpus.js';
export type { ResilienceOptions } from './resilience.js';
export { describeResilience } from './resilience.js';

export interface MemoryReport {
  /** RSS (bytes) when sampling started. */
  baselineRss: number;
  /** Highest RSS (bytes) seen while sampling. */
  peakRss: number;
  /** `peakRss - baselineRss`. */
  growth: number;
  /**
   * Bytes in ArrayBuffers (Buffers) when sampling started and at the peak: live ones and those the
   * garbage collector has not freed yet. Their rise is the part of the growth that is buffers.
   */
  baselineArrayBuffers: number;
  peakArrayBuffers: number;
  samples: number;
}

export interface MemorySampler {
  /** Stops sampling and reports. */
  stop(): MemoryReport;
}

/**
 * Samples `process.memoryUsage.rss()` every `intervalMs` until `stop()`. Runs a GC first when the
 * process was started with `--expose-gc`, so the baseline is not inflated by garbage.
 */
export function sampleMemory(intervalMs = 20): MemorySampler {
  (globalThis as { gc?: () => void }).gc?.();
  const start = process.memoryUsage();
  const baselineRss = start.rss;
  let peakRss = baselineRss;
  let peakArrayBuffers = start.arrayBuffers;
  let samples = 1;
  const sample = () => {
    const rss = process.memoryUsage.rss();
    samples++;
    if (rss > peakRss) {
      peakRss = rss;
      peakArrayBuffers = process.memoryUsage().arrayBuffers;
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return {
        baselineRss,
        peakRss,
        growth: peakRss - baselineRss,
        baselineArrayBuffers: start.arrayBuffers,
        peakArrayBuffers,
        samples,
      };
    },
  };
}

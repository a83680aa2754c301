import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataStream, hashData, hashStream } from '@artifacts/testkit';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './server-process.js';

// The proxy under load: 200 concurrent transfers (large and small, uploads and downloads at once)
// against a server in its own process, several rounds. Its memory must stay flat after the warm-up
// rounds (pools, JIT, the heap growing to its working size) and it must hold no descriptor once
// clients are gone.
//
// What "flat" is measured on. After each round the server collects its garbage (twice, through
// --expose-gc) and reports process.memoryUsage().
//
// - The leak signal is what JavaScript keeps: `heapUsed + external` after GC (every Buffer a
//   transfer holds is in `external`). It is asserted strictly: no measured round may keep more than
//   LEAK_SLACK (2 MiB) above the warm-up's highest. Without a leak it moves by 0.1-0.3 MiB over a run
//   (V8 compiling more code), so about 3.5 KB kept per request (600 requests from the warm-up's last
//   round to the last) fails; a 4 KiB-per-request leak did (docs/benchmarks/server.md).
// - RSS is no leak signal at a 20% tolerance. With the heap and `external` flat to 0.3 MiB, the RSS
//   kept after GC jumped by 36-46 MiB between two rounds in some runs and not in others of the same
//   code (glibc keeps freed buffers per arena, V8 keeps heap pages: its reservation after GC varied
//   22-86 MiB), and the peak during a round varied by as much with the machine's load (V8 collects
//   less often). MALLOC_ARENA_MAX=2 did not stop the jumps (docs/benchmarks/server.md). So RSS is
//   bounded for what it can show, a native leak: the peak and the RSS kept after GC of every
//   measured round stay below RSS_SLACK (1.5) times the warm-up's peak, about 100 MiB of headroom.

const MiB = 1024 * 1024;
const CONCURRENT = 200;
const LARGE = 20; // of the 200, this many are large
const LARGE_BYTES = 8 * MiB;
const SMALL_BYTES = 16 * 1024;
const ROUNDS = 6; // round 0 seeds the files downloads read; rounds 1-2 warm up
const A = '/api/2.0/mlflow-artifacts/artifacts';
/** How much more than the warm-up a measured round's JavaScript memory (heap + external) may keep. */
const LEAK_SLACK = 2 * MiB;
/** How far above the warm-up's peak RSS a measured round's peak, or its RSS kept after GC, may go. */
const RSS_SLACK = 1.5;

let server: ServerProcess;
let parent: string;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'artifacts-server-load-'));
  server = await startServerProcess(
    {
      artifactsDestination: join(parent, 'destination'),
      host: '127.0.0.1',
      auth: { allowUnauthenticated: true },
      accessLog: false,
    },
    {},
    { gcProbe: true },
  );
});
afterAll(async () => {
  await server?.stop();
  if (parent) await rm(parent, { recursive: true, force: true });
});

const sizeOf = (i: number) => (i < LARGE ? LARGE_BYTES : SMALL_BYTES);

/** One round: half the transfers upload fresh files, half download the first round's, all at once. */
async function round(agent: Agent, n: number): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < CONCURRENT; i++) {
    const size = sizeOf(i);
    if (n === 0 || i % 2 === 0) {
      jobs.push(
        (async () => {
          const response = await request(`${server.url}${A}/r${n}/f${i}.bin`, {
            method: 'PUT',
            dispatcher: agent,
            body: dataStream(size, { seed: `f${i}` }),
            headers: { 'content-length': String(size) },
          });
          await response.body.text();
          expect(response.statusCode).toBe(200);
        })(),
      );
    } else {
      jobs.push(
        (async () => {
          const response = await request(`${server.url}${A}/r0/f${i}.bin`, {
            dispatcher: agent,
          });
          expect(response.statusCode).toBe(200);
          const got = await hashStream(response.body);
          expect(got.bytes).toBe(size);
          expect(got.digest).toBe((await hashData(size, { seed: `f${i}` })).digest);
        })(),
      );
    }
  }
  await Promise.all(jobs);
}

/** Runs `work` while sampling the server's RSS every 50 ms; resolves with the peak. */
async function peakRss(work: () => Promise<void>): Promise<number> {
  let peak = server.rssBytes();
  const timer = setInterval(() => {
    peak = Math.max(peak, server.rssBytes());
  }, 50);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, server.rssBytes());
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 500));
}

describe('200 concurrent transfers, both directions, large and small', () => {
  it('keep the server’s memory flat (no JavaScript memory kept, RSS bounded by the warm-up’s peak) and leak no descriptor', {
    timeout: 900_000,
  }, async () => {
    const idleFds = server.openFds();
    const rounds: Array<{ peak: number; rss: number; heap: number; heapTotal: number }> = [];
    for (let n = 0; n < ROUNDS; n++) {
      // Every round on fresh connections: a leak per connection shows as much as one per transfer.
      const agent = new Agent({ connections: CONCURRENT, pipelining: 0 });
      const peak = await peakRss(() => round(agent, n));
      await agent.close();
      await settle();
      const kept = await server.memoryAfterGc();
      rounds.push({
        peak,
        rss: server.rssBytes(),
        heap: kept.heapUsed + kept.external,
        heapTotal: kept.heapTotal,
      });
    }
    // Round 0 only uploads (it seeds what later rounds download), so it is no baseline; rounds 1-2
    // are the mixed warm-up, rounds 3-5 are measured against them.
    const warm = rounds.slice(1, 3);
    const after = rounds.slice(3);
    const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)}`;
    const report = rounds
      .map(
        (r, n) =>
          `round ${n}: peak ${mib(r.peak)}, kept ${mib(r.rss)}, heap+external ${mib(r.heap)} (V8 heap reserved ${mib(r.heapTotal)}) MiB`,
      )
      .join('; ');
    console.info(`server memory per round: ${report}; descriptors when idle: ${idleFds}`);
    const warmPeak = Math.max(...warm.map((w) => w.peak));
    const heapBound = Math.max(...warm.map((w) => w.heap)) + LEAK_SLACK;
    for (const r of after) {
      expect(r.heap, `heap + external after GC grew: ${report}`).toBeLessThanOrEqual(heapBound);
      expect(r.peak, `peak RSS grew: ${report}`).toBeLessThanOrEqual(warmPeak * RSS_SLACK);
      expect(r.rss, `RSS kept after GC grew: ${report}`).toBeLessThanOrEqual(warmPeak * RSS_SLACK);
    }
    // Every client connection closed, every file closed: back to the idle count.
    let fds = server.openFds();
    for (let i = 0; i < 20 && fds > idleFds; i++) {
      await settle();
      fds = server.openFds();
    }
    expect(fds, `descriptors idle ${idleFds}, after ${ROUNDS} rounds ${fds}`).toBe(idleFds);
  });
});

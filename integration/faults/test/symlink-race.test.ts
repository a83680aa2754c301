/**
 * The symlink race against the artifact server over a local destination (`artifacts serve`): a
 * directory of the store is swapped with a link to outside for 10 s while clients GET, PUT, DELETE
 * and list below it through the REST API. Zero reads, writes or deletions outside, no temporary
 * file left.
 */
import '@artifacts/local';
import { type StartedServer, startServer } from '@artifacts/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  makeRaceStage,
  type RaceOps,
  type RaceStage,
  removeStage,
  runRace,
} from '../../../packages/local/test/race/harness.ts';

let stage: RaceStage;
let server: StartedServer;

beforeEach(async () => {
  stage = await makeRaceStage();
  server = await startServer({
    artifactsDestination: stage.root,
    host: '127.0.0.1',
    port: 0,
    auth: { allowUnauthenticated: true },
    handleSignals: false,
    accessLog: false,
    onMessage: () => undefined,
  });
});
afterEach(async () => {
  await server.close();
  await removeStage(stage);
});

function serverOps(base: string): RaceOps {
  const url = (key: string) => `${base}/api/2.0/mlflow-artifacts/artifacts/${key}`;
  const ok = async (response: Response): Promise<Response> => {
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    return response;
  };
  return {
    read: async (key) => (await ok(await fetch(url(key)))).text(),
    write: async (key, body) => {
      await (await ok(await fetch(url(key), { method: 'PUT', body }))).text();
    },
    delete: async (key) => {
      await (await ok(await fetch(url(key), { method: 'DELETE' }))).text();
    },
    list: async (key) => {
      const response = await ok(await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts?path=${key}`));
      const json = (await response.json()) as { files?: { path: string }[] };
      return (json.files ?? []).map((file) => file.path.slice(file.path.lastIndexOf('/') + 1));
    },
    exists: async (key) => {
      const response = await fetch(url(key), { method: 'HEAD' });
      await response.body?.cancel();
      if (response.status === 404 || response.status === 403) return false;
      if (response.ok) return true;
      // Any other answer is a refusal, not a sighting.
      return false;
    },
  };
}

describe('artifact server over a local destination, a directory swapped for a link to outside', () => {
  it('serves 10 s of GET/PUT/DELETE/list with zero reads, writes or deletions outside and no temporary files', async () => {
    const result = await runRace(stage, serverOps(server.address.url), { seconds: 10, workers: 8 });
    expect(result.leaks).toEqual([]);
    expect(result.outsideAfter).toEqual(result.outsideBefore);
    expect(result.tempFiles).toEqual([]);
    expect(result.swaps).toBeGreaterThan(1000);
    // Low on purpose: a loaded machine serves few requests, and the point is only that it served some.
    expect(result.succeeded).toBeGreaterThan(10);
    expect(result.refused).toBeGreaterThan(0);
  }, 120_000);
});

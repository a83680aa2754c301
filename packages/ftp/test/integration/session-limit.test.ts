import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import type { Client } from 'basic-ftp';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, rawClient, unique, withConnectionSampling } from './helpers.js';

/**
 * pure-ftpd serves a limited number of sessions (16 here although started with `-c 64`) and greets
 * the next one with `421 … users (the maximum) are already logged in`. A repository asked for more
 * connections than the server serves goes on with those it got: no operation fails for it.
 */

const port = () => Number(env('ARTIFACTS_IT_FTP_PORT'));
const held: Client[] = [];
const opened: ArtifactRepository[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const client of held.splice(0)) client.close();
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close();
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A local directory of `count` small files in a few subdirectories, and their contents by name. */
async function files(count: number): Promise<{ dir: string; contents: Map<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ftp-sessions-'));
  dirs.push(dir);
  const contents = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const name = `d${i % 4}/f${i}.txt`;
    contents.set(name, `file ${i} `.repeat(1 + (i % 50)));
  }
  for (let i = 0; i < 4; i++) await mkdir(join(dir, `d${i}`));
  await Promise.all([...contents].map(([name, body]) => writeFile(join(dir, name), body)));
  return { dir, contents };
}

/** Round trip: every file uploaded with `logArtifacts`, downloaded again, compared byte for byte. */
async function roundTrip(repo: ArtifactRepository, count: number): Promise<void> {
  const { dir, contents } = await files(count);
  await repo.logArtifacts(dir, 'many');
  const back = await mkdtemp(join(tmpdir(), 'ftp-sessions-back-'));
  dirs.push(back);
  await repo.downloadArtifacts('many', back);
  for (const [name, body] of contents) expect(await readFile(join(back, 'many', name), 'utf8')).toBe(body);
}

/** Logs in plain clients until the server refuses one; they hold every session it serves. */
async function takeAllSessions(uri: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    try {
      held.push(await rawClient(uri));
    } catch (error) {
      expect(String(error)).toMatch(/^FTPError: 421 /);
      return held.length;
    }
  }
  throw new Error('the server accepted 200 sessions: no limit to test against');
}

describe('ftp: more connections asked for than the server serves', () => {
  it('with 3 sessions left on the server and 8 connections asked for, every file goes up and down over those 3', async () => {
    const uri = unique(env('ARTIFACTS_IT_FTP_URI'), 'sessions');
    const limit = await takeAllSessions(uri);
    // Leave three sessions free; pure-ftpd counts a session until its process has gone.
    for (const client of held.splice(0, 3)) client.close();
    await new Promise((r) => setTimeout(r, 500));
    const repo = await openRepository(uri, { maxConnections: 8, maxConcurrency: 8 });
    opened.push(repo);
    const { peak } = await withConnectionSampling(port(), () => roundTrip(repo, 60));
    // The sampler sees the client side of every TCP connection, a connect the server greets with
    // `421` and closes included (for a moment it is established too): what the repository had open
    // at once is bounded by the 8 asked for, not by the server's limit. That the repository went on
    // with the sessions it got, and failed nothing, is the round trip above.
    expect(peak - held.length).toBeLessThanOrEqual(8);
    expect(peak - held.length).toBeGreaterThanOrEqual(1);
    expect(limit).toBeGreaterThan(held.length);
  });

  it('maxConnections 32 and maxConcurrency 32 against a server of 16 sessions: nothing fails, nothing waits for a timeout', async () => {
    const uri = unique(env('ARTIFACTS_IT_FTP_URI'), 'sessions32');
    // pure-ftpd takes connections with a listen backlog of 5: of 32 connects at once, some are left
    // unanswered until the socket timeout. The operations waiting on them take connections that
    // come free instead.
    const repo = await openRepository(uri, {
      maxConnections: 32,
      maxConcurrency: 32,
      socketTimeoutMs: 60_000,
    });
    opened.push(repo);
    const started = Date.now();
    await roundTrip(repo, 200);
    expect(Date.now() - started).toBeLessThan(50_000);
  });
});

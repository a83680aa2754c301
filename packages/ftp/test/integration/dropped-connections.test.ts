import { randomBytes } from 'node:crypto';
import { buffer, text } from 'node:stream/consumers';
import { type ArtifactRepository, ArtifactsError, openRepository, type RetryEvent } from '@artifacts/core';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { type Cut, type CuttingFtpProxy, env, rawNames, startCuttingFtpProxy, unique } from './helpers.js';

// Data connections of the real pure-ftpd reset at chosen moments (a proxy in between): the driver
// marks a dropped connection `temporary`, core's retry layer repeats what is safe to repeat, and
// nothing partial is ever left at a key or under a temporary name.

let proxy: CuttingFtpProxy | undefined;
const opened: ArtifactRepository[] = [];
afterEach(async () => {
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close();
  }
  await proxy?.close();
  proxy = undefined;
});

/** A fresh directory, reached directly and through the cutting proxy; retries are recorded. */
async function setup(): Promise<{
  uri: string;
  direct: ArtifactRepository;
  cut: ArtifactRepository;
  retries: RetryEvent[];
}> {
  proxy = await startCuttingFtpProxy({
    host: env('ARTIFACTS_IT_FTP_HOST'),
    port: Number(env('ARTIFACTS_IT_FTP_PORT')),
  });
  const uri = unique(env('ARTIFACTS_IT_FTP_URI'), 'dropped');
  const retries: RetryEvent[] = [];
  const direct = await openRepository(uri);
  const cut = await openRepository(uri.replace(/@[^/]+\//, `@${proxy.host}:${proxy.port}/`), {
    onRetry: (event: RetryEvent) => retries.push(event),
  });
  opened.push(cut, direct);
  // A fresh connection's first transfer tries each passive mode in turn inside basic-ftp (one of
  // them would bypass the cut): one listing settles it on EPSV first.
  await cut.listArtifacts();
  return { uri, direct, cut, retries };
}

function expectDropped(retries: RetryEvent[], operation: string): void {
  expect(retries.map((r) => r.operation)).toEqual([operation]);
  const error = retries[0]!.error;
  expect(ArtifactsError.is(error), String(error)).toBe(true);
  expect(error).toMatchObject({ code: 'unavailable', temporary: true });
}

const temps = async (uri: string) => (await rawNames(uri)).filter((name) => name.includes('.artifacts-tmp'));

describe('ftp: a data connection dropped under an idempotent operation is retried by core', () => {
  const body = randomBytes(3 * 1024 * 1024);

  // `150`: the data socket is reset while the reply that starts the transfer is on its way, so
  // basic-ftp pipes a socket already closing into the read's sink (once "Cannot pipe to a closed
  // or destroyed stream" in 1 of 1,000 FTPS downloads, when a retry reused an ended sink).
  it.each<Cut>([{ at: 'accept' }, { at: '150' }])(
    'read, cut at $at: whole content after one retry',
    async (cut) => {
      const { direct, cut: repo, retries } = await setup();
      await direct.write('data.bin', body);
      proxy!.cutNext(cut);
      const read = await buffer(await repo.openRead('data.bin'));
      expect(proxy!.cuts).toBe(1);
      expect(Buffer.compare(read, body)).toBe(0);
      expectDropped(retries, 'read');
    },
    60_000,
  );

  it('write, cut before the body was read: stored whole after one retry, no temporary file', async () => {
    const { uri, direct, cut: repo, retries } = await setup();
    proxy!.cutNext({ at: 'accept' });
    await repo.write('up.bin', body);
    expect(proxy!.cuts).toBe(1);
    expect(Buffer.compare(await buffer(await direct.openRead('up.bin')), body)).toBe(0);
    expectDropped(retries, 'write');
    expect(await temps(uri)).toEqual([]);
  }, 60_000);

  it('list, its MLSD cut: every entry once after one retry of that directory', async () => {
    const { direct, cut: repo, retries } = await setup();
    await direct.write('a/1.txt', '1');
    await direct.write('b/2.txt', '2');
    proxy!.cutNext({ at: 'accept' });
    const keys = (await repo.listArtifactsRecursive())
      .filter((entry) => !entry.isDir)
      .map((entry) => entry.path)
      .sort();
    expect(keys).toEqual(['a/1.txt', 'b/2.txt']);
    expect(proxy!.cuts).toBe(1);
    expectDropped(retries, 'list');
  }, 60_000);
});

describe('ftp: a data connection dropped mid-transfer', () => {
  it('write: fails cleanly, nothing at the key, no temporary file left; the next write succeeds', async () => {
    const { uri, direct, cut: repo, retries } = await setup();
    const body = randomBytes(8 * 1024 * 1024);
    proxy!.cutNext({ at: 'bytes', bytes: 1024 * 1024 });
    const error = await repo.write('up.bin', body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(proxy!.cuts).toBe(1);
    expect(ArtifactsError.is(error), String(error)).toBe(true);
    // Half the body was sent: it cannot be replayed, so core does not retry.
    expect(retries).toEqual([]);
    expect(await direct.exists('up.bin')).toBe(false);
    await expect.poll(() => temps(uri), { timeout: 10_000 }).toEqual([]);
    await repo.write('up.bin', 'whole');
    expect(await text(await direct.openRead('up.bin'))).toBe('whole');
  }, 60_000);

  it('read: the stream fails (never a short stream that ends well)', async () => {
    const { direct, cut: repo } = await setup();
    const body = randomBytes(8 * 1024 * 1024);
    await direct.write('data.bin', body);
    proxy!.cutNext({ at: 'bytes', bytes: 1024 * 1024 });
    await expect(text(await repo.openRead('data.bin'))).rejects.toThrow();
    expect(proxy!.cuts).toBe(1);
  }, 60_000);
});

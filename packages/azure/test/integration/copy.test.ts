import { createHash, randomBytes } from 'node:crypto';
import { type ArtifactRepository, copyArtifacts, openRepository } from '@artifacts/core';
import { describeServerSideCopy, hashStream, startTcpProxy, type TcpProxy } from '@artifacts/testkit';
import {
  AccountSASPermissions,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;

/** An account SAS for every blob operation, valid for an hour. */
function accountSas(): string {
  const key = new StorageSharedKeyCredential(
    env('ARTIFACTS_IT_AZURE_ACCOUNT'),
    env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY'),
  );
  return generateAccountSASQueryParameters(
    {
      permissions: AccountSASPermissions.parse('rwdlac'),
      services: 'b',
      resourceTypes: 'sco',
      expiresOn: new Date(Date.now() + 3600_000),
      protocol: SASProtocol.HttpsAndHttp,
    },
    key,
  ).toString();
}

/** A repository on `uri` whose client connects to `via` (or straight to Azurite); with the account key, or a SAS only. */
function open(
  uri: string,
  via: { host: string; port: number } | undefined,
  auth: 'key' | 'sas' = 'key',
): Promise<ArtifactRepository> {
  const url = server();
  if (via) url.port = String(via.port);
  const endpoint = url.toString().replace(/\/$/, '');
  const connectionString =
    auth === 'key'
      ? `DefaultEndpointsProtocol=http;AccountName=${env('ARTIFACTS_IT_AZURE_ACCOUNT')};AccountKey=${env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY')};BlobEndpoint=${endpoint};`
      : `BlobEndpoint=${endpoint};SharedAccessSignature=${accountSas()}`;
  return openRepository(uri, { connectionString });
}

// Read when the suite starts: the servers' addresses are known only then.
const server = () => new URL(env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT'));
const target = () => ({ host: server().hostname, port: Number(server().port) });

// With the account key the driver signs a source SAS: Copy Blob From URL.
describeServerSideCopy('azure on Azurite (Copy Blob From URL)', {
  get target() {
    return target();
  },
  open: (via, root = uniqueRoot('copy')) => open(root, via),
});

describe('azure on Azurite: server-side copy without a key to sign a source SAS', () => {
  const opened: ArtifactRepository[] = [];
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy(target());
  });
  afterEach(async () => {
    for (const repo of opened.splice(0)) {
      await repo.deleteArtifacts().catch(() => undefined);
      await repo.close().catch(() => undefined);
    }
  });
  afterAll(() => proxy.close());

  it("the connection string's own SAS authorizes the source: still no blob bytes through the client", async () => {
    const seed = await open(uniqueRoot('copy-async'), undefined);
    opened.push(seed);
    const body = randomBytes(6 * MiB);
    await seed.write('m/w.bin', body);
    const src = await open(seed.uri, proxy, 'sas');
    const dst = await open(uniqueRoot('copy-async-dst'), proxy, 'sas');
    opened.push(src, dst);
    expect(src.capabilities.presign).toBe(false);
    proxy.resetCounters();
    const result = await copyArtifacts({ repo: src, path: 'm' }, { repo: dst, path: 'n' });
    console.log(
      `azure Copy Blob of ${body.length} bytes: ${proxy.bytesUp} bytes up, ${proxy.bytesDown} down`,
    );
    expect(result).toEqual({ files: 1, bytes: body.length, serverSide: 1 });
    expect(proxy.bytesUp + proxy.bytesDown).toBeLessThan(64 * 1024);
    expect((await hashStream(await dst.openRead('n/w.bin'))).digest).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
  }, 120_000);
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ArtifactsError } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectionStringSecrets } from '../../src/internal/connection-string.js';
import { lazyDefaultAzureCredential, loadDefaultAzureCredential } from '../../src/internal/identity.js';
import { createClients } from '../../src/internal/lean.js';
import { resolveAzureConfig } from '../../src/internal/settings.js';
import { azureBackend, azurePlugin } from '../../src/plugin.js';

const VARS = [
  'AZURE_STORAGE_CONNECTION_STRING',
  'AZURE_STORAGE_ACCESS_KEY',
  'ARTIFACTS_AZURE_BLOB_ENDPOINT',
  'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT',
];
let saved: Record<string, string | undefined>;
beforeEach(() => {
  saved = Object.fromEntries(VARS.map((name) => [name, process.env[name]]));
  for (const name of VARS) delete process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

// A made-up key (base64 of 64 bytes): never a real account's.
const KEY = Buffer.alloc(64, 7).toString('base64');
const parse = azurePlugin.parse!;
const location = parse('wasbs://models@myaccount.blob.core.windows.net/exp/1');
const token = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 60_000 }) };

describe('URIs', () => {
  it('wasbs and wasb give container, account, suffix and path', () => {
    expect(location).toMatchObject({
      bucket: 'models',
      account: 'myaccount',
      endpointSuffix: 'core.windows.net',
      path: 'exp/1',
    });
    expect(parse('wasb://cont1@acct2.blob.core.windows.net')).toMatchObject({
      bucket: 'cont1',
      account: 'acct2',
      path: '',
    });
  });

  it('Azure China: .blob.core.chinacloudapi.cn gives the matching endpoint', () => {
    const china = parse('wasbs://cont1@acct.blob.core.chinacloudapi.cn/p');
    expect(resolveAzureConfig(china, { accountKey: KEY }).endpoint).toBe(
      'https://acct.blob.core.chinacloudapi.cn',
    );
  });

  it('refuses a host that is not an Azure blob endpoint', () => {
    expect(() => parse('wasbs://cont1@evil.example.com/p')).toThrow(ArtifactsError);
  });
});

describe("credentials in MLflow's order, options first", () => {
  /** The credential that applies (the other two unset) and where it came from. */
  const credential = (options: Parameters<typeof resolveAzureConfig>[1]) => {
    const { connectionString, accountKey, credential, sources } = resolveAzureConfig(location, options);
    const set = { connectionString, accountKey, credential };
    const names = Object.keys(set).filter((name) => set[name as keyof typeof set] !== undefined);
    return names.map((name) => [name, sources[name as keyof typeof sources]]);
  };

  it('AZURE_STORAGE_CONNECTION_STRING wins over AZURE_STORAGE_ACCESS_KEY', () => {
    process.env.AZURE_STORAGE_CONNECTION_STRING = 'AccountName=myaccount;AccountKey=abc';
    process.env.AZURE_STORAGE_ACCESS_KEY = KEY;
    expect(credential({})).toEqual([['connectionString', 'AZURE_STORAGE_CONNECTION_STRING']]);
  });

  it('then AZURE_STORAGE_ACCESS_KEY', () => {
    process.env.AZURE_STORAGE_ACCESS_KEY = KEY;
    expect(credential({})).toEqual([['accountKey', 'AZURE_STORAGE_ACCESS_KEY']]);
  });

  it('then DefaultAzureCredential (none of the three set)', () => {
    expect(credential({})).toEqual([]);
  });

  it('options in code win over every variable', () => {
    process.env.AZURE_STORAGE_CONNECTION_STRING = 'AccountName=myaccount;AccountKey=abc';
    process.env.AZURE_STORAGE_ACCESS_KEY = KEY;
    expect(credential({ accountKey: 'k' })).toEqual([['accountKey', 'option']]);
    expect(credential({ credential: token })).toEqual([['credential', 'option']]);
    expect(credential({ connectionString: 'cs', accountKey: 'k', credential: token })).toEqual([
      ['connectionString', 'option'],
    ]);
  });
});

describe('endpoint', () => {
  it('defaults to https://<account>.blob.<suffix>', () => {
    expect(resolveAzureConfig(location, {}).endpoint).toBe('https://myaccount.blob.core.windows.net');
  });

  it('ARTIFACTS_AZURE_BLOB_ENDPOINT overrides it (emulators, private endpoints); the option wins', () => {
    process.env.ARTIFACTS_AZURE_BLOB_ENDPOINT = 'http://127.0.0.1:10000/devstoreaccount1/';
    expect(resolveAzureConfig(location, {}).endpoint).toBe('http://127.0.0.1:10000/devstoreaccount1');
    expect(
      resolveAzureConfig(location, { endpoint: 'https://x.privatelink.blob.core.windows.net' }).endpoint,
    ).toBe('https://x.privatelink.blob.core.windows.net');
  });

  it('refuses an endpoint carrying a SAS or credentials', () => {
    expect(() =>
      resolveAzureConfig(location, { endpoint: 'https://a.blob.core.windows.net/?sig=abc' }),
    ).toThrow(/must not carry a query string/);
    expect(() => resolveAzureConfig(location, { endpoint: 'ftp://host' })).toThrow(ArtifactsError);
  });
});

describe('timeouts', () => {
  it("default to MLflow's 600 s for Azure (declared by the plugin, applied by core)", () => {
    expect(azureBackend.defaultTimeoutMs).toBe(600_000);
  });
  it('the plugin is azureBackend; azurePlugin stays as its deprecated alias', () => {
    expect(azurePlugin).toBe(azureBackend);
  });
  it("leave the SDK's whole-request deadline off: the repository's timeout bounds stalls, in core", () => {
    expect(resolveAzureConfig(location, {}).requestTimeoutMs).toBeUndefined();
  });
  it('requestTimeoutMs wins; -1 disables', () => {
    expect(resolveAzureConfig(location, { requestTimeoutMs: 5 }).requestTimeoutMs).toBe(5);
    expect(resolveAzureConfig(location, { requestTimeoutMs: -1 }).requestTimeoutMs).toBeUndefined();
  });
});

describe('options', () => {
  it('have defaults and are validated', () => {
    expect(resolveAzureConfig(location, {})).toMatchObject({
      blockSize: 4 * 1024 * 1024,
      uploadConcurrency: 4,
      transactionalMd5: true,
      downloadPartSize: 32 * 1024 * 1024,
      downloadConcurrency: 4,
      listPageSize: 5000,
      deleteConcurrency: 16,
      maxTries: 1,
      container: 'models',
      root: 'exp/1',
    });
    expect(() => resolveAzureConfig(location, { listPageSize: 5001 })).toThrow(/listPageSize/);
    expect(() => resolveAzureConfig(location, { blockSize: 0 })).toThrow(/blockSize/);
  });
});

describe('clients', () => {
  it('an account key gives shared-key requests on the resolved endpoint; the key is a secret', async () => {
    const config = resolveAzureConfig(location, {
      accountKey: KEY,
      endpoint: 'http://127.0.0.1:1/myaccount',
    });
    const clients = await createClients(config, 4);
    expect(clients.http.url).toBe('http://127.0.0.1:1/myaccount');
    expect(clients.auth).toMatchObject({ kind: 'shared-key', key: KEY });
    expect(config.secrets).toEqual([KEY]);
    // The SDK's client serves only a token credential's user-delegation keys.
    expect(() => clients.service()).toThrow(/token credentials only/);
    clients.http.destroy();
  });

  it('caFile is read at open; an unreadable one is refused naming the option', () => {
    expect(() => resolveAzureConfig(location, { caFile: '/nonexistent/ca.pem' })).toThrow(
      /cannot read the CA file \(option caFile\) \/nonexistent\/ca.pem: ENOENT/,
    );
  });

  it("a connection string for another account than the URI's is refused", async () => {
    const config = resolveAzureConfig(location, {
      connectionString: `DefaultEndpointsProtocol=https;AccountName=other;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
    });
    const error = await createClients(config, 1).catch((e) => e);
    expect(ArtifactsError.is(error, 'invalid_argument')).toBe(true);
    expect(error.message).toContain('"other"');
    expect(error.message).not.toContain(KEY);
  });

  it('a malformed connection string is invalid_argument without echoing it', async () => {
    const connectionString = 'this is not a connection string SECRETVALUE';
    const error = await createClients(resolveAzureConfig(location, { connectionString }), 1).catch((e) => e);
    expect(ArtifactsError.is(error, 'invalid_argument')).toBe(true);
    expect(error.message).not.toContain('SECRETVALUE');
  });

  it('the secret parts of a connection string are AccountKey and the SAS (and its signature)', () => {
    expect(
      connectionStringSecrets(
        'BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2024&sig=abc%2Bdef;AccountKey=KEYKEY',
      ),
    ).toEqual(['sv=2024&sig=abc%2Bdef', 'abc+def', 'KEYKEY']);
  });

  it('a token credential gives a client that signs with user-delegation keys', async () => {
    const config = resolveAzureConfig(location, { credential: token });
    const clients = await createClients(config, 1);
    expect(clients.auth).toMatchObject({ kind: 'token' });
    expect((await clients.service()).credential).toBe(token);
    expect(config.secrets).toEqual([]);
    clients.http.destroy();
  });
});

describe('@azure/identity, the optional peer dependency', () => {
  it('is imported only for DefaultAzureCredential and gives one', async () => {
    const credential = await loadDefaultAzureCredential();
    expect(credential.constructor.name).toBe('DefaultAzureCredential');
  });

  it('when missing, the error names the package and the alternatives', async () => {
    const missing = Object.assign(new Error("Cannot find package '@azure/identity' imported from x"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const error = await loadDefaultAzureCredential(() => Promise.reject(missing)).catch((e) => e);
    expect(ArtifactsError.is(error, 'failed_precondition')).toBe(true);
    expect(error.message).toContain('npm install @azure/identity');
    expect(error.message).toContain('AZURE_STORAGE_CONNECTION_STRING');
  });

  it('is imported by the first token request, not at open; when missing, that request says so', async () => {
    let imports = 0;
    const missing = Object.assign(new Error("Cannot find package '@azure/identity' imported from x"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const credential = lazyDefaultAzureCredential(() => {
      imports++;
      return Promise.reject(missing);
    });
    expect(imports).toBe(0);
    const error = await credential.getToken('https://storage.azure.com/.default').catch((e) => e);
    expect(imports).toBe(1);
    expect(ArtifactsError.is(error, 'failed_precondition')).toBe(true);
    expect(error.message).toContain('npm install @azure/identity');
    // A failed load is tried again by the next request.
    await credential.getToken('https://storage.azure.com/.default').catch(() => undefined);
    expect(imports).toBe(2);
  });

  it("gives the loaded credential's token", async () => {
    const token = { token: 't', expiresOnTimestamp: Date.now() + 3_600_000 };
    const credential = lazyDefaultAzureCredential(async () => ({
      DefaultAzureCredential: class {
        getToken = async () => token;
      },
    }));
    expect(await credential.getToken('scope')).toBe(token);
  });

  it('opening without credentials resolves neither @azure/identity nor the SDK', async () => {
    const script = new URL('./fixtures/open-no-credentials.mjs', import.meta.url).pathname;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_ACCESS_KEY']) delete env[name];
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      env,
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual({ resolved: [] });
  });

  it('other import failures are not disguised as a missing package', async () => {
    const broken = new SyntaxError('Unexpected token');
    await expect(loadDefaultAzureCredential(() => Promise.reject(broken))).rejects.toBe(broken);
  });
});

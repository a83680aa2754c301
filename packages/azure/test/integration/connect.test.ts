import { openRepository } from '@artifacts/core';
import { describeConnectFailures } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

/** Azurite's connection string with its blob endpoint moved to `host`:`port`. */
function movedTo(host: string, port: number): string {
  return env('AZURE_STORAGE_CONNECTION_STRING').replace(
    /BlobEndpoint=(https?):\/\/[^/;]+/,
    (_, scheme: string) => `BlobEndpoint=${scheme}://${host}:${port}`,
  );
}

describeConnectFailures('azure', {
  openAt: (host, port) =>
    openRepository(uniqueRoot('connect'), { connectionString: movedTo(host, port), maxTries: 1 }),
  secrets: () => [/AccountKey=([^;]+)/.exec(env('AZURE_STORAGE_CONNECTION_STRING'))?.[1] ?? ''],
});

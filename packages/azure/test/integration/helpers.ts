import { randomBytes } from 'node:crypto';

/** A variable the integration servers export (integration/.servers.env); its absence is a setup error. */
export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through vitest.integration.config.ts`);
  return value;
}

/** A fresh, empty root under the server's test root, so that tests never see each other's blobs. */
export function uniqueRoot(label = 'it'): string {
  return `${env('ARTIFACTS_IT_AZURE_URI')}/${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

import type { SettingSpec } from './settings.js';

/**
 * Options several object-store backends declare alike, declared once (as `connectionPoolSettings`
 * is for pooled backends): put each in the backend's `defineSettings` declaration where its README
 * table should show it (`caFile: objectStoreSettings.caFile('ARTIFACTS_AZURE_CA_FILE')`).
 */
export const objectStoreSettings = {
  /**
   * The PEM file of the CA that signs the endpoint's certificate, read at open into `StoreHttp`'s
   * `tls.ca`; `env` is the backend's variable, `note` what else the help must say.
   */
  caFile: (env: string, note = '') =>
    ({
      type: 'string',
      env,
      file: 'CA file',
      defaultText: "Node's CAs (and `NODE_EXTRA_CA_CERTS`)",
      help: `PEM file of the CA certificates that sign the endpoint's TLS certificate (a private endpoint or an emulator with its own CA)${note}; read at open`,
    }) as const satisfies SettingSpec<string>,
  /** Requests in flight when a directory is deleted one object at a time (core's `deleteEach`). */
  deleteConcurrency: {
    type: 'integer',
    default: 16,
    min: 1,
    max: 256,
    help: 'deletions in flight when deleting a directory',
  } as const satisfies SettingSpec<number>,
};

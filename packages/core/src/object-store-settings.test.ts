import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { objectStoreSettings } from './object-store-settings.js';
import { defineSettings } from './settings.js';

describe('objectStoreSettings', () => {
  const settings = defineSettings('@artifacts/example', {
    caFile: objectStoreSettings.caFile('EXAMPLE_CA_FILE', ', for our requests'),
    deleteConcurrency: objectStoreSettings.deleteConcurrency,
  });

  it("caFile is the named file's text, from the option or the backend's variable", async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'ca-')), 'ca.pem');
    await writeFile(path, 'PEM TEXT');
    expect(settings.resolve({ caFile: path }).values.caFile).toBe('PEM TEXT');
    expect(settings.resolve({}, { env: { EXAMPLE_CA_FILE: path } }).values.caFile).toBe('PEM TEXT');
    expect(() => settings.resolve({ caFile: `${path}.missing` })).toThrow(/CA file \(option caFile\)/);
    expect(settings.markdownTable()).toContain(
      "| `caFile` | Node's CAs (and `NODE_EXTRA_CA_CERTS`) | `EXAMPLE_CA_FILE` | PEM file of the CA certificates that sign the endpoint's TLS certificate (a private endpoint or an emulator with its own CA), for our requests; read at open |",
    );
  });

  it('deleteConcurrency defaults to 16 and is bounded to 1–256', () => {
    expect(settings.resolve({}).values.deleteConcurrency).toBe(16);
    expect(settings.resolve({ deleteConcurrency: 256 }).values.deleteConcurrency).toBe(256);
    expect(() => settings.resolve({ deleteConcurrency: 0 })).toThrow(/deleteConcurrency/);
    expect(() => settings.resolve({ deleteConcurrency: 257 })).toThrow(/deleteConcurrency/);
  });
});

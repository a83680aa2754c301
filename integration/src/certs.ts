import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** Where `selfSignedCert` wrote its files. */
export interface SelfSignedCert {
  keyFile: string;
  /** The certificate, which is also the CA to trust (it signs itself). */
  certFile: string;
}

/**
 * A self-signed TLS certificate for `host` (and DNS:localhost), its own CA, written into `dir` as
 * `key.pem` and `cert.pem` (or the names a server expects): the one openssl call of every TLS
 * fixture (the servers' launchers and the unit tests' throwaway https servers). An EC P-256 key:
 * generated in milliseconds, accepted by Node, Go and MinIO alike.
 */
export function selfSignedCert(
  dir: string,
  options: { host?: string; keyName?: string; certName?: string } = {},
): SelfSignedCert {
  const host = options.host ?? '127.0.0.1';
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, options.keyName ?? 'key.pem');
  const certFile = join(dir, options.certName ?? 'cert.pem');
  const san = `${isIP(host) ? 'IP' : 'DNS'}:${host}${host === 'localhost' ? '' : ',DNS:localhost'}`;
  // biome-ignore format: one openssl option per line pair reads better than one per line
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256',
    '-days', '30', '-subj', `/CN=${host}`,
    '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:TRUE',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { keyFile, certFile };
}

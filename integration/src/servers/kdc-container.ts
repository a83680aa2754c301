/**
 * The KDC's container path: the same MIT krb5kdc, realm and keytabs as kdc.ts's native KDC, in a
 * container of the kdc image (integration/images/kdc: Debian's krb5-kdc and krb5-admin-server). The
 * launcher writes kdc.conf and krb5.conf (writeKdcConfig, shared with the native KDC) into the state
 * directory, mounted at the same path; the image's entrypoint creates the realm's database and the
 * keytabs there and runs `krb5kdc -n`. Host networking only, like the secure cluster beside it: the
 * KDC binds 127.0.0.1 on a port chosen here.
 *
 * The Kerberos client side stays on this machine: kinit (krb5-user) for the tests and the `kerberos`
 * binding (built against libkrb5-dev) @artifacts/hdfs loads, installed by installKerberosClient.
 */
import { join } from 'node:path';
import { engine, startServerContainer } from '../containers.js';
import { serverImage } from '../images.js';
import { freePort, ServerError, tcpAnswers } from '../util.js';
import { ensureKerberosModule, type Kdc, KRB_REALM, writeKdcConfig } from './kdc.js';
import { ensureDebianPackages } from './sftp/debian.js';

/** kinit and the GSSAPI headers (apt, as root), then the `kerberos` binding: what the tests use. */
export async function installKerberosClient(ctx: { cacheDir: string; logFile: string }): Promise<void> {
  await ensureDebianPackages({
    packages: ['krb5-user', 'libkrb5-dev'],
    binaries: ['/usr/bin/kinit', '/usr/include/gssapi/gssapi.h'],
    logFile: ctx.logFile,
    lock: join(ctx.cacheDir, 'apt'),
  });
  await ensureKerberosModule(ctx);
}

/** startKdc (kdc.ts) in a container: the same Kdc, keytabs and krb5.conf. */
export async function startKdcContainer(opts: {
  stateDir: string;
  logFile: string;
  principals: Record<string, string[]>;
}): Promise<Kdc> {
  const eng = await engine();
  if (eng.network !== 'host' || eng.bindHost !== '127.0.0.1') {
    throw new ServerError(
      'the KDC in a container needs host networking on this machine (ARTIFACTS_IT_CONTAINER_NETWORK=host, a local engine): its krb5.conf and the secure cluster name 127.0.0.1',
    );
  }
  const image = await serverImage('hdfs-kerberos');
  const port = await freePort();
  const { dir, kdcConf, krb5Conf } = await writeKdcConfig(opts.stateDir, port);
  const keytabs: Record<string, string> = {};
  for (const group of Object.keys(opts.principals)) keytabs[group] = join(dir, `${group}.keytab`);
  const container = await startServerContainer({
    server: 'hdfs-kerberos',
    what: `krb5kdc for ${KRB_REALM} on 127.0.0.1:${port}`,
    image,
    command: [
      KRB_REALM,
      dir,
      ...Object.entries(opts.principals).map(([group, names]) => `${group}=${names.join(',')}`),
    ],
    env: {
      KRB5_CONFIG: krb5Conf,
      KRB5_KDC_PROFILE: kdcConf,
      KEYTAB_UID: String(process.getuid?.() ?? 0),
      KEYTAB_GID: String(process.getgid?.() ?? 0),
    },
    ports: [port],
    binds: [opts.stateDir],
    logFile: opts.logFile,
    // the entrypoint writes the keytabs before krb5kdc opens its port
    ready: () => tcpAnswers(port, '127.0.0.1'),
    readyTimeoutMs: 60_000,
  });
  return {
    realm: KRB_REALM,
    port,
    krb5Conf,
    keytabs,
    stop: () => container.stop(),
  };
}

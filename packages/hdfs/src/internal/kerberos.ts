import { ArtifactsError } from '@artifacts/core';

interface KerberosClient {
  step(challenge: string): Promise<string>;
}
interface KerberosModule {
  GSS_MECH_OID_SPNEGO: number;
  initializeClient(service: string, options: { mechOID?: number }): Promise<KerberosClient>;
}

// A variable keeps bundlers and tsc from resolving the optional dependency at build time.
const KERBEROS_PACKAGE = 'kerberos';
let loaded: Promise<KerberosModule> | undefined;

async function loadKerberos(): Promise<KerberosModule> {
  loaded ??= import(KERBEROS_PACKAGE).then(
    (mod: { default?: KerberosModule } & KerberosModule) => mod.default ?? mod,
    (error: unknown) => {
      loaded = undefined;
      throw new ArtifactsError(
        'unsupported',
        'Kerberos is requested (MLFLOW_KERBEROS_TICKET_CACHE or the kerberosTicketCache option) but the optional package "kerberos" could not be loaded: install it beside @artifacts/hdfs (npm install kerberos; it builds against the system GSSAPI, e.g. Debian libkrb5-dev)',
        { cause: error },
      );
    },
  );
  return loaded;
}

/**
 * A SPNEGO token (`Authorization: Negotiate <token>`) for the NameNode at `host`, from the ticket
 * cache. GSSAPI reads the cache from KRB5CCNAME, so it is set for this process.
 */
export async function spnegoToken(ticketCache: string, host: string): Promise<string> {
  const kerberos = await loadKerberos();
  process.env.KRB5CCNAME = ticketCache;
  try {
    const client = await kerberos.initializeClient(`HTTP@${host}`, { mechOID: kerberos.GSS_MECH_OID_SPNEGO });
    return await client.step('');
  } catch (error) {
    throw new ArtifactsError(
      'unauthenticated',
      `Kerberos: no SPNEGO token for HTTP@${host} from the ticket cache ${ticketCache} (run kinit?): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

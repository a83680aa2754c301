import { existsSync } from 'node:fs';
import { ArtifactsError, importOptional, Limiter } from '@artifacts/core';

interface KerberosClient {
  step(challenge: string): Promise<string>;
}
interface KerberosModule {
  GSS_MECH_OID_SPNEGO: number;
  initializeClient(
    service: string,
    options: { mechOID?: number; principal?: string },
  ): Promise<KerberosClient>;
}

/** How SPNEGO tokens are made: which ticket cache, for which principal. */
export interface KerberosAuth {
  /** Ticket cache (`MLFLOW_KERBEROS_TICKET_CACHE`); undefined = GSSAPI's default (`KRB5CCNAME`, …). */
  ticketCache: string | undefined;
  /** Client principal (`MLFLOW_KERBEROS_USER`); undefined = the cache's default principal. */
  principal: string | undefined;
  /** Why Kerberos is on, for messages. */
  reason: string;
}

// A variable keeps bundlers and tsc from resolving the optional dependency at build time.
const KERBEROS_PACKAGE = 'kerberos';
let loaded: Promise<KerberosModule> | undefined;

function loadKerberos(reason: string): Promise<KerberosModule> {
  const why = `Kerberos is requested (${reason})`;
  const gssapi = 'it builds against the system GSSAPI, e.g. Debian libkrb5-dev';
  loaded ??= importOptional(
    () => import(KERBEROS_PACKAGE) as Promise<{ default?: KerberosModule } & KerberosModule>,
    KERBEROS_PACKAGE,
    `${why}; install kerberos beside @artifacts/hdfs (${gssapi})`,
  ).then(
    (mod) => mod.default ?? mod,
    (error: unknown) => {
      loaded = undefined;
      if (ArtifactsError.is(error)) throw error;
      // Installed but not loadable: most often its native part was never built.
      throw new ArtifactsError(
        'unsupported',
        `${why} but the package kerberos could not be loaded: install or rebuild it beside @artifacts/hdfs (npm install kerberos; ${gssapi}): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    },
  );
  return loaded;
}

// GSSAPI finds the ticket cache through KRB5CCNAME, a process-wide variable: tokens are made one at
// a time, each with its own repository's cache set, so two repositories on two caches never mix.
const oneAtATime = new Limiter(1);

/** The file behind a `FILE:` (or prefix-less) cache name; undefined for other cache types. */
function cacheFile(ticketCache: string): string | undefined {
  if (ticketCache.startsWith('FILE:')) return ticketCache.slice('FILE:'.length);
  return /^[A-Za-z]+:/.test(ticketCache) ? undefined : ticketCache;
}

function kerberosError(error: unknown, auth: KerberosAuth, service: string): ArtifactsError {
  const detail = error instanceof Error ? error.message : String(error);
  const cache = auth.ticketCache ? `the ticket cache ${auth.ticketCache}` : 'the default ticket cache';
  const who = auth.principal ? `principal ${auth.principal}` : 'its default principal';
  let problem: string;
  if (/expired/i.test(detail)) {
    problem = `the Kerberos ticket in ${cache} has expired: renew it (kinit)`;
  } else if (
    auth.principal &&
    /find client principal|principal .*not found|matching credential/i.test(detail)
  ) {
    problem = `${cache} holds no ticket for principal ${auth.principal} (MLFLOW_KERBEROS_USER names the Kerberos principal, as in MLflow): kinit as that principal into this cache, or unset MLFLOW_KERBEROS_USER to use the cache's own principal`;
  } else if (/server not found in kerberos database/i.test(detail)) {
    problem = `the KDC knows no service principal for ${service} (the NameNode's HTTP principal must be HTTP/<the host of the WebHDFS URL>)`;
  } else {
    problem = `no SPNEGO token for ${service} from ${cache} for ${who} (no valid ticket: run kinit)`;
  }
  return new ArtifactsError('unauthenticated', `Kerberos: ${problem} — ${detail}`, { cause: error });
}

/**
 * A SPNEGO token (`Authorization: Negotiate <token>`) for the NameNode at `host`, for the
 * principal and from the ticket cache of `auth`.
 */
export async function spnegoToken(auth: KerberosAuth, host: string): Promise<string> {
  const kerberos = await loadKerberos(auth.reason);
  const service = `HTTP@${host}`;
  const file = auth.ticketCache === undefined ? undefined : cacheFile(auth.ticketCache);
  if (file !== undefined && !existsSync(file)) {
    throw new ArtifactsError(
      'unauthenticated',
      `Kerberos: the ticket cache ${auth.ticketCache} does not exist: create it with kinit -c ${auth.ticketCache} <principal> (or fix MLFLOW_KERBEROS_TICKET_CACHE)`,
    );
  }
  return oneAtATime.run(async () => {
    const saved = process.env.KRB5CCNAME;
    if (auth.ticketCache !== undefined) process.env.KRB5CCNAME = auth.ticketCache;
    try {
      const client = await kerberos.initializeClient(service, {
        mechOID: kerberos.GSS_MECH_OID_SPNEGO,
        ...(auth.principal ? { principal: auth.principal } : {}),
      });
      return await client.step('');
    } catch (error) {
      throw kerberosError(error, auth, service);
    } finally {
      if (auth.ticketCache !== undefined) {
        if (saved === undefined) delete process.env.KRB5CCNAME;
        else process.env.KRB5CCNAME = saved;
      }
    }
  });
}

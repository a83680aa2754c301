import { existsSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { ArtifactsError } from './errors.js';
import { Limiter } from './internal/pool.js';
import { importOptional } from './registry.js';

/**
 * SPNEGO (Kerberos over HTTP, RFC 4559) for every HTTP client of core: `Authorization: Negotiate
 * <token>` made by the optional `kerberos` package (the GSSAPI binding) from a ticket cache, for a
 * principal. hdfs's WebHDFS client (through `StoreHttp`) and the artifact proxy's client
 * (`MlflowHttpClient`, a server behind a Kerberos-authenticating proxy) both use it.
 */

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
  /** Ticket cache; undefined = GSSAPI's default (`KRB5CCNAME`, …). */
  ticketCache: string | undefined;
  /** Client principal; undefined = the cache's default principal. */
  principal: string | undefined;
  /** Why Kerberos is on, for messages (`MLFLOW_KERBEROS_TICKET_CACHE`). */
  reason: string;
}

/** Who uses SPNEGO: the package the binding is loaded beside, and the names its messages use. */
export interface SpnegoUser {
  /**
   * Imports the binding, written in the package that declares it (`() => import('kerberos')`, the
   * name in a variable so bundlers leave it alone): the import resolves beside that package.
   */
  load: () => Promise<unknown>;
  /** That package (`@artifacts/hdfs`), named in "install kerberos beside …". */
  owner: string;
  /** The variable or option that names the principal (`MLFLOW_KERBEROS_USER`), for messages. */
  principalSetting: string;
  /** The server that checks the token, for messages (`the NameNode`). */
  server: string;
  /**
   * The server's signed session cookie (`hadoop.auth`): once an answer sets it, later requests to
   * that origin send it instead of a new token, until the server refuses it (`refused`).
   * Undefined = a new token with every request.
   */
  cookie?: string;
}

type Loaded = Promise<KerberosModule>;
const loads = new WeakMap<SpnegoUser['load'], Loaded>();

function loadKerberos(user: SpnegoUser, reason: string): Loaded {
  const cached = loads.get(user.load);
  if (cached) return cached;
  const why = `Kerberos is requested (${reason})`;
  const gssapi = 'it builds against the system GSSAPI, e.g. Debian libkrb5-dev';
  const loading = importOptional(
    user.load as () => Promise<{ default?: KerberosModule } & KerberosModule>,
    'kerberos',
    `${why}; install kerberos beside ${user.owner} (${gssapi})`,
  ).then(
    (mod) => mod.default ?? mod,
    (error: unknown) => {
      loads.delete(user.load);
      if (ArtifactsError.is(error)) throw error;
      // Installed but not loadable: most often its native part was never built.
      throw new ArtifactsError(
        'unsupported',
        `${why} but the package kerberos could not be loaded: install or rebuild it beside ${user.owner} (npm install kerberos; ${gssapi}): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    },
  );
  loads.set(user.load, loading);
  return loading;
}

// GSSAPI finds the ticket cache through KRB5CCNAME, a process-wide variable: tokens are made one at
// a time, each with its own repository's cache set, so two repositories on two caches never mix.
const oneAtATime = new Limiter(1);

/** The file behind a `FILE:` (or prefix-less) cache name; undefined for other cache types. */
function cacheFile(ticketCache: string): string | undefined {
  if (ticketCache.startsWith('FILE:')) return ticketCache.slice('FILE:'.length);
  return /^[A-Za-z]+:/.test(ticketCache) ? undefined : ticketCache;
}

function kerberosError(error: unknown, auth: KerberosAuth, user: SpnegoUser, service: string) {
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
    problem = `${cache} holds no ticket for principal ${auth.principal} (${user.principalSetting} names the Kerberos principal): kinit as that principal into this cache, or unset ${user.principalSetting} to use the cache's own principal`;
  } else if (/server not found in kerberos database/i.test(detail)) {
    problem = `the KDC knows no service principal for ${service} (${user.server}'s HTTP principal must be HTTP/<the host of its URL>)`;
  } else {
    problem = `no SPNEGO token for ${service} from ${cache} for ${who} (no valid ticket: run kinit)`;
  }
  return new ArtifactsError('unauthenticated', `Kerberos: ${problem} — ${detail}`, { cause: error });
}

/**
 * A SPNEGO token (`Authorization: Negotiate <token>`) for the server at `host`, for the principal
 * and from the ticket cache of `auth`.
 */
export async function spnegoToken(auth: KerberosAuth, host: string, user: SpnegoUser): Promise<string> {
  const kerberos = await loadKerberos(user, auth.reason);
  const service = `HTTP@${host}`;
  const file = auth.ticketCache === undefined ? undefined : cacheFile(auth.ticketCache);
  if (file !== undefined && !existsSync(file)) {
    throw new ArtifactsError(
      'unauthenticated',
      `Kerberos: the ticket cache ${auth.ticketCache} does not exist: create it with kinit -c ${auth.ticketCache} <principal> (or fix ${auth.reason})`,
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
      throw kerberosError(error, auth, user, service);
    } finally {
      if (auth.ticketCache !== undefined) {
        if (saved === undefined) delete process.env.KRB5CCNAME;
        else process.env.KRB5CCNAME = saved;
      }
    }
  });
}

/** Whether an answer asks for SPNEGO (`WWW-Authenticate: Negotiate`). */
export function asksForNegotiate(headers: IncomingHttpHeaders): boolean {
  const value = headers['www-authenticate'];
  return (Array.isArray(value) ? value : [value ?? '']).some((v) => /^\s*Negotiate\b/i.test(v));
}

/**
 * One client's SPNEGO: the header each request sends (the server's session cookie once it gave one,
 * else a new token for the request's host), and what a 401 means. Tokens and cookies are
 * credentials: kept in memory only, never in a message.
 */
export class Spnego {
  readonly auth: KerberosAuth;
  readonly #user: SpnegoUser;
  /** The session cookie each origin answered with (`name=value`), when `user.cookie` names one. */
  readonly #cookies = new Map<string, string>();
  readonly #cookiePattern: RegExp | undefined;

  constructor(auth: KerberosAuth, user: SpnegoUser) {
    this.auth = auth;
    this.#user = user;
    if (user.cookie) {
      const name = user.cookie.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      this.#cookiePattern = new RegExp(`^${name}=("?)([^";]*)\\1`);
    }
  }

  /** The session cookie sent to `url`'s origin, if any (to tell a refused cookie from a refused token). */
  cookie(url: string): string | undefined {
    return this.#cookies.size === 0 ? undefined : this.#cookies.get(new URL(url).origin);
  }

  /** The headers that authenticate a request to `url`: the session cookie, else `Authorization: Negotiate`. */
  async headers(url: string): Promise<Record<string, string>> {
    const { origin, hostname } = new URL(url);
    const cookie = this.#cookies.get(origin);
    if (cookie !== undefined) return { cookie };
    const host = hostname.replace(/^\[|\]$/g, '');
    return { authorization: `Negotiate ${await spnegoToken(this.auth, host, this.#user)}` };
  }

  /** Keeps (or, set empty, forgets) the session cookie an answer from `url` carries. */
  answered(url: string, headers: IncomingHttpHeaders): void {
    if (!this.#cookiePattern) return;
    const header = headers['set-cookie'];
    for (const line of Array.isArray(header) ? header : header ? [header] : []) {
      const m = this.#cookiePattern.exec(line);
      if (!m) continue;
      const origin = new URL(url).origin;
      if (m[2]) this.#cookies.set(origin, `${this.#user.cookie}=${m[1]}${m[2]}${m[1]}`);
      else this.#cookies.delete(origin);
    }
  }

  /**
   * A 401 to a request that sent `sentCookie` (expired, or the server restarted with a new secret):
   * forgets it; true when the same request is worth sending once more with a fresh token (it was not
   * carried out, so this is safe for any request).
   */
  refused(url: string, sentCookie: string | undefined): boolean {
    if (sentCookie === undefined) return false;
    const origin = new URL(url).origin;
    if (this.#cookies.get(origin) === sentCookie) this.#cookies.delete(origin);
    return true;
  }

  /** What a 401 despite a token means, for the error's message. */
  hint401(): string {
    const { principal, ticketCache } = this.auth;
    return `${this.#user.server} refused the Kerberos token of ${principal ?? 'the default principal'} from ${ticketCache ?? 'the default ticket cache'}`;
  }
}

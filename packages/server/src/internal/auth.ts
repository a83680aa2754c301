import { createHash, timingSafeEqual } from 'node:crypto';
import type { ResolvedAuth } from '../options.js';
import { HttpError } from './mlflow-errors.js';

/** Who made a request: a basic-auth user name, 'token' for a bearer token, undefined when open. */
export type Principal = string | undefined;

/** Precomputed digests, so that every comparison is between equal-length buffers (no length leak). */
export interface Authenticator {
  readonly open: boolean;
  check(header: string | undefined): Principal;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

const DUMMY = digest('\u0000no such user\u0000');

export function createAuthenticator(auth: ResolvedAuth): Authenticator {
  const users = new Map([...auth.users].map(([name, password]) => [name, digest(password)]));
  const tokens = auth.tokens.map(digest);
  const open = users.size === 0 && tokens.length === 0;
  const challenge = `Basic realm="${auth.realm.replace(/["\\]/g, '')}", charset="UTF-8"`;
  const refuse = (message: string): never => {
    throw new HttpError(401, 'UNAUTHENTICATED', message, { 'WWW-Authenticate': challenge });
  };

  return {
    open,
    check(header) {
      if (open) return undefined;
      if (!header) return refuse('authentication required: send HTTP basic credentials or a bearer token');
      const space = header.indexOf(' ');
      const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
      const value = space === -1 ? '' : header.slice(space + 1).trim();
      if (scheme === 'basic' && users.size > 0) {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const name = colon === -1 ? decoded : decoded.slice(0, colon);
        const password = colon === -1 ? '' : decoded.slice(colon + 1);
        const expected = users.get(name);
        // Compare against a dummy for unknown users too, so timing does not reveal which names exist.
        const ok = timingSafeEqual(digest(password), expected ?? DUMMY) && expected !== undefined;
        if (ok) return name;
        return refuse('invalid user name or password');
      }
      if (scheme === 'bearer' && tokens.length > 0) {
        const given = digest(value);
        let ok = false;
        for (const token of tokens) ok = timingSafeEqual(given, token) || ok;
        if (ok) return 'token';
        return refuse('invalid bearer token');
      }
      return refuse(
        `unsupported authorization scheme; use ${[users.size > 0 ? 'Basic' : '', tokens.length > 0 ? 'Bearer' : ''].filter(Boolean).join(' or ')}`,
      );
    },
  };
}

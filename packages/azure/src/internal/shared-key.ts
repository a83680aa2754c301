import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** The headers of the Shared Key string-to-sign's fixed lines, in order (lower-case). */
const STANDARD = [
  'content-encoding',
  'content-language',
  'content-length',
  'content-md5',
  'content-type',
  'date',
  'if-modified-since',
  'if-match',
  'if-none-match',
  'if-unmodified-since',
  'range',
] as const;

/**
 * Azure Storage's Shared Key authorization (2009-09-19 and later) for the requests this package
 * sends itself: the account key decoded once and kept as a KeyObject, one HMAC-SHA256 per request.
 * Header names must be lower-case; the `x-ms-*` names this package sends sort the same by code
 * unit as by the service's culture-aware comparison (a unit test checks the result against the
 * SDK's own policy).
 */
export class SharedKey {
  readonly #account: string;
  readonly #key: KeyObject;

  constructor(account: string, accountKey: string) {
    this.#account = account;
    this.#key = createSecretKey(Buffer.from(accountKey, 'base64'));
  }

  /**
   * The `authorization` value of a request. `path`: the URL's path as sent (percent-encoded);
   * `query`: its parameters decoded.
   */
  sign(
    method: string,
    path: string,
    query: ReadonlyArray<readonly [string, string]>,
    headers: Record<string, string>,
  ): string {
    let text = method;
    for (const name of STANDARD) {
      const value = headers[name];
      text += `\n${value === undefined || (name === 'content-length' && value === '0') ? '' : value}`;
    }
    text += '\n';
    const names = Object.keys(headers)
      .filter((name) => name.startsWith('x-ms-'))
      .sort();
    for (const name of names) text += `${name}:${headers[name]!.trimStart()}\n`;
    text += `/${this.#account}${path || '/'}`;
    const params = query.map(([name, value]) => [name.toLowerCase(), value] as const);
    params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, value] of params) text += `\n${name}:${value}`;
    const signature = createHmac('sha256', this.#key).update(text, 'utf8').digest('base64');
    return `SharedKey ${this.#account}:${signature}`;
  }
}

import { ArtifactsError } from './errors.js';

/**
 * A service endpoint setting as an http(s) URL without a trailing slash; `from` names where it came
 * from in messages. `bareHost`: the scheme a bare `host:port` gets (without it, one is refused).
 * A query string or credentials are refused — a SAS, a token or a password in the endpoint would
 * end up in every error message and log line — with `credentialsHint` saying where they belong.
 */
export function checkEndpoint(
  value: string,
  from: string,
  options: { bareHost?: 'http' | 'https'; credentialsHint?: string } = {},
): string {
  const { bareHost, credentialsHint } = options;
  const url = bareHost && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? `${bareHost}://${value}` : value;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const expected = bareHost ? ' or host:port' : '';
    throw ArtifactsError.invalidArgument(`${from} ${JSON.stringify(value)} is not a URL${expected}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw ArtifactsError.invalidArgument(
      `${from} must be an http(s) URL, got ${JSON.stringify(parsed.protocol)}`,
    );
  if (parsed.search || parsed.username || parsed.password) {
    const hint = credentialsHint ? `; ${credentialsHint}` : '';
    throw ArtifactsError.invalidArgument(`${from} must not carry a query string or credentials${hint}`);
  }
  return url.replace(/\/+$/, '');
}

import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { describeFileErrors, describeStoreErrors, firstLine, storeErrors } from './store-errors.js';
import { StoreHttpError, StoreRequestFailure } from './store-http.js';

const failure = (status: number | undefined, message = 'Backend Error\nrequest id 42') => ({
  what: 'upload',
  store: 'the store',
  status,
  message,
  secrets: ['s3cr3t'],
  context: { bucket: 'b' },
});

describe('storeErrors', () => {
  it('maps a status the store did not name by codeForHttpStatus, temporary for 429/5xx', () => {
    const busy = storeErrors({}, failure(503)).fallback()!;
    expect(busy).toBeInstanceOf(ArtifactsError);
    expect(busy.code).toBe('unavailable');
    expect(busy.temporary).toBe(true);
    expect(busy.message).toBe('upload: the store answered 503: Backend Error');
    expect(busy.context).toEqual({ bucket: 'b', status: 503 });
    const conflict = storeErrors({}, failure(409)).fallback()!;
    expect([conflict.code, conflict.temporary]).toEqual(['failed_precondition', false]);
    expect(storeErrors({}, failure(416)).fallback()!.code).toBe('invalid_argument');
  });

  it('a broken connection is unavailable and temporary; anything else is left to the caller', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const mapped = storeErrors(reset, failure(undefined, reset.message)).fallback()!;
    expect([mapped.code, mapped.temporary, mapped.cause]).toEqual(['unavailable', true, reset]);
    expect(mapped.message).toBe('upload: the connection to the store broke: socket hang up');
    expect(storeErrors(new Error('odd'), failure(undefined, 'odd')).fallback()).toBeUndefined();
  });

  it('scrubs secrets from every message, and keeps only the first line of the service’s', () => {
    const { detail, make } = storeErrors({}, failure(400, 'bad key s3cr3t\nmore'));
    expect(detail).toBe('bad key ***');
    expect(make('invalid_argument', 'with s3cr3t').message).not.toContain('s3cr3t');
    expect(firstLine(' one \ntwo')).toBe('one');
  });

  it('a store may mark a failure temporary for its own reason', () => {
    const cut = storeErrors({}, { ...failure(undefined), temporary: true }).make('unavailable', 'cut');
    expect(cut.temporary).toBe(true);
  });
});

interface Thing {
  what: string;
  bucket: string;
  key?: string;
  endpoint?: string;
  reached?: boolean;
}

const where = (s: Thing) => (s.key === undefined ? `bucket ${s.bucket}` : `${s.bucket}/${s.key}`);
const mapError = describeStoreErrors<Thing>({
  store: 'the store',
  hints: { caHint: 'set STORE_CA', addressHint: 'check STORE_URL' },
  context: (s) => ({ bucket: s.bucket, ...(s.key === undefined ? {} : { key: s.key }) }),
  endpoint: (s) => s.endpoint,
  codes: {
    NoSuchBucket: { code: 'not_found', message: (s) => `${s.what}: bucket ${s.bucket} does not exist` },
    SlowDown: 'unavailable',
    BadDigest: 'integrity',
    Quiet: { code: 'failed_precondition', temporary: true },
  },
  messages: {
    not_found: (s) => `${s.what}: ${where(s)} does not exist`,
    unauthenticated: (s, detail) => `${s.what}: the credentials were refused (${detail})`,
  },
  credentials: { names: ['NoCredentials'], message: (s) => `${s.what}: no credentials; set STORE_KEY` },
  classify: ({ status, detail }) =>
    status === 403 && /authenticate/.test(detail) ? 'unauthenticated' : undefined,
});
const thing: Thing = { what: 'reading', bucket: 'b', key: 'k' };
const answer = (status: number, code?: string, message?: string) =>
  new StoreHttpError(status, { code, message }, 'http://127.0.0.1:1/b/k');
const mappedBy = (error: unknown, subject: Thing = thing, secrets: string[] = []) => {
  const out = mapError(error, subject, secrets);
  if (!ArtifactsError.is(out)) throw new Error(`not mapped: ${String(out)}`);
  return out;
};

describe('describeStoreErrors', () => {
  it('a declared service code wins over its status, with its own message or the generic one', () => {
    const bucket = mappedBy(answer(404, 'NoSuchBucket', 'The specified bucket does not exist'));
    expect([bucket.code, bucket.message]).toEqual(['not_found', 'reading: bucket b does not exist']);
    expect(bucket.context).toEqual({ bucket: 'b', key: 'k', status: 404, serviceCode: 'NoSuchBucket' });
    const digest = mappedBy(answer(400, 'BadDigest', 'The Content-MD5 you specified did not match'));
    expect([digest.code, digest.temporary]).toEqual(['integrity', false]);
    expect(digest.message).toBe('reading failed (BadDigest: The Content-MD5 you specified did not match)');
  });

  it('throttling codes are temporary whatever their status; a rule may say so for its own code', () => {
    const slow = mappedBy(answer(400, 'SlowDown'));
    expect([slow.code, slow.temporary]).toEqual(['unavailable', true]);
    expect(mappedBy(answer(400, 'Quiet')).temporary).toBe(true);
  });

  it('a bare 401/403/404 takes the declared message; one without a message falls to the status table', () => {
    const missing = mappedBy(answer(404));
    expect([missing.code, missing.message]).toEqual(['not_found', 'reading: b/k does not exist']);
    const refused = mappedBy(answer(401, 'InvalidKey', 'bad key s3cr3t'), thing, ['s3cr3t']);
    expect(refused.code).toBe('unauthenticated');
    expect(refused.message).toBe('reading: the credentials were refused (InvalidKey: bad key ***)');
    const denied = mappedBy(answer(403, 'AccessDenied', 'Access Denied.'));
    expect([denied.code, denied.message]).toEqual([
      'permission_denied',
      'reading: the store answered 403: AccessDenied: Access Denied.',
    ]);
  });

  it('classify reads what a code alone does not say', () => {
    expect(mappedBy(answer(403, 'AuthorizationFailure', 'failed to authenticate')).code).toBe(
      'unauthenticated',
    );
  });

  it('any other status by the status table, temporary for 5xx, with retryAfterMs in the context', () => {
    const busy = mappedBy(new StoreHttpError(503, { code: 'Busy' }, 'http://127.0.0.1:1/b', '2'));
    expect([busy.code, busy.temporary]).toEqual(['unavailable', true]);
    expect(busy.context).toMatchObject({ status: 503, serviceCode: 'Busy', retryAfterMs: 2000 });
    expect(mappedBy(answer(416, 'InvalidRange')).code).toBe('invalid_argument');
    expect(mappedBy(answer(409)).code).toBe('failed_precondition');
  });

  it('a request that reached no server names the endpoint and the hint; temporary only once reached', () => {
    const refused = () =>
      new StoreRequestFailure(
        'http://127.0.0.1:9/b/k?X-Amz-Signature=s3cr3t',
        false,
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      );
    const never = mappedBy(refused());
    expect([never.code, never.temporary, never.context.reason]).toEqual([
      'unavailable',
      false,
      'connection_refused',
    ]);
    expect(never.message).toContain('check STORE_URL');
    expect(never.message).not.toContain('s3cr3t');
    const configured = mappedBy(refused(), { ...thing, endpoint: 'https://store.example:8443' });
    expect(configured.message).toContain('https://store.example:8443');
    const restarted = mappedBy(refused(), { ...thing, reached: true });
    expect(restarted.temporary).toBe(true);
    expect(restarted.message).not.toContain('check STORE_URL');
    const tls = mappedBy(
      new StoreRequestFailure(
        'https://127.0.0.1:9/b',
        false,
        Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      ),
    );
    expect([tls.code, tls.context.reason]).toEqual(['unauthenticated', 'untrusted_certificate']);
    expect(tls.message).toContain('set STORE_CA');
  });

  it('a broken connection is temporary unavailable; any other unanswered request unavailable', () => {
    const reset = new StoreRequestFailure(
      'http://127.0.0.1:9/b',
      true,
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    );
    const broke = mappedBy(reset);
    expect([broke.code, broke.temporary]).toEqual(['unavailable', true]);
    expect(broke.message).toContain('the connection to the store broke');
    const odd = mappedBy(
      new StoreRequestFailure(
        'http://127.0.0.1:9/b',
        true,
        Object.assign(new Error('bad record'), { code: 'EPROTO' }),
      ),
    );
    expect([odd.code, odd.temporary]).toEqual(['unavailable', false]);
  });

  it('a credential chain that found nothing says what to set', () => {
    const none = mappedBy(Object.assign(new Error('none found'), { name: 'NoCredentials' }));
    expect([none.code, none.message]).toEqual(['unauthenticated', 'reading: no credentials; set STORE_KEY']);
  });

  it('passes aborts, timeouts, ArtifactsErrors and what it does not know through as they are', () => {
    for (const error of [
      new DOMException('aborted', 'AbortError'),
      Object.assign(new Error('slow'), { name: 'TimeoutError' }),
      new ArtifactsError('integrity', 'x'),
      new Error('odd'),
      'a string',
    ]) {
      expect(mapError(error, thing)).toBe(error);
    }
  });
});

describe('describeFileErrors', () => {
  const mapFile = describeFileErrors({
    protocol: 'XFTP',
    status: (error) => (error as { status?: number }).status,
    codes: {
      2: 'not_found',
      550: (message) => (/denied/.test(message) ? 'permission_denied' : 'failed_precondition'),
    },
    dropped: (error) => (error as { code?: string }).code === 'ECONNRESET',
  });
  const failed = (status: number | undefined, message: string, code?: string) =>
    Object.assign(new Error(message), { status, code });

  it('a declared status maps to its code in one wording, naming what failed and the library text', () => {
    const missing = mapFile(failed(2, 'No such file'), 'reading "a/b"') as ArtifactsError;
    expect([missing.code, missing.temporary]).toEqual(['not_found', false]);
    expect(missing.message).toBe('reading "a/b": no such file or directory (No such file)');
    expect((mapFile(failed(550, 'Permission denied'), 'x') as ArtifactsError).code).toBe('permission_denied');
    expect((mapFile(failed(550, 'Directory not empty'), 'x') as ArtifactsError).code).toBe(
      'failed_precondition',
    );
  });

  it('a broken connection is temporary unavailable; anything else passes as it is', () => {
    const reset = mapFile(
      failed(undefined, 'read ECONNRESET', 'ECONNRESET'),
      'writing "a"',
    ) as ArtifactsError;
    expect([reset.code, reset.temporary]).toEqual(['unavailable', true]);
    expect(reset.message).toContain('the XFTP connection failed');
    const odd = failed(99, 'odd');
    expect(mapFile(odd, 'x')).toBe(odd);
    const own = new ArtifactsError('integrity', 'x');
    expect(mapFile(own, 'x')).toBe(own);
  });

  it("a rule may mark a status temporary and give the reason; the client's own timeout is `timeout`", () => {
    const map = describeFileErrors({
      protocol: 'XFTP',
      status: (error) => (error as { status?: number }).status,
      codes: {
        425: { code: 'unavailable', temporary: true, reason: 'no data connection' },
        552: 'unavailable',
      },
      timedOut: (error) => /timeout/i.test((error as Error).message),
    });
    const busy = map(failed(425, "Can't open data connection"), 'writing "a"') as ArtifactsError;
    expect([busy.code, busy.temporary, busy.message]).toEqual([
      'unavailable',
      true,
      'writing "a": no data connection (Can\'t open data connection)',
    ]);
    const full = map(failed(552, 'Disk full'), 'x') as ArtifactsError;
    expect([full.code, full.temporary]).toEqual(['unavailable', false]);
    const silent = map(failed(undefined, 'Timeout (control socket)'), 'x') as ArtifactsError;
    expect([silent.code, silent.temporary]).toEqual(['timeout', false]);
    // Without `dropped`, a reset is no sign of anything: it passes as it is.
    const reset = failed(undefined, 'read ECONNRESET', 'ECONNRESET');
    expect(map(reset, 'x')).toBe(reset);
  });
});

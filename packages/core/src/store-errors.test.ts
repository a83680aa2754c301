import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { firstLine, storeErrors } from './store-errors.js';

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
    expect(mapped.message).toBe('upload: cannot reach the store: socket hang up');
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

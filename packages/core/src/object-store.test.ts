import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { listPages, ObjectNames, parseContentRange, parseHttpDate } from './object-store.js';

describe('ObjectNames', () => {
  it('maps keys under a root to object names and back', () => {
    const names = new ObjectNames('exp/run');
    expect(names.name('')).toBe('exp/run');
    expect(names.name('a/b.txt')).toBe('exp/run/a/b.txt');
    expect(names.dirPrefix('')).toBe('exp/run/');
    expect(names.dirPrefix('a')).toBe('exp/run/a/');
    expect(names.relative('exp/run/a/b.txt')).toBe('a/b.txt');
  });

  it('at the bucket root: no prefix, names are keys', () => {
    const names = new ObjectNames('');
    expect(names.name('')).toBe('');
    expect(names.name('a.txt')).toBe('a.txt');
    expect(names.dirPrefix('')).toBe('');
    expect(names.dirPrefix('d')).toBe('d/');
    expect(names.relative('d/a.txt')).toBe('d/a.txt');
  });
});

describe('listPages', () => {
  const pages: Record<string, { page: number[]; next?: string }> = {
    first: { page: [1, 2], next: 't2' },
    t2: { page: [3], next: 't3' },
    t3: { page: [4], next: '' },
  };

  it('follows the tokens until a page names none', async () => {
    const seen: (string | undefined)[] = [];
    const out: number[] = [];
    for await (const page of listPages(async (token) => {
      seen.push(token);
      return pages[token ?? 'first']!;
    }, {}))
      out.push(...page);
    expect(out).toEqual([1, 2, 3, 4]);
    expect(seen).toEqual([undefined, 't2', 't3']);
  });

  it('sends each page request through options.page: a failed page 2 is repeated alone', async () => {
    let failed = false;
    const requests: (string | undefined)[] = [];
    const page = async <T>(request: () => Promise<T>): Promise<T> => {
      try {
        return await request();
      } catch (error) {
        if (!ArtifactsError.is(error) || !error.temporary) throw error;
        return request();
      }
    };
    const out: number[] = [];
    for await (const items of listPages(
      async (token) => {
        requests.push(token);
        if (token === 't2' && !failed) {
          failed = true;
          throw new ArtifactsError('unavailable', 'reset', { temporary: true });
        }
        return pages[token ?? 'first']!;
      },
      { page },
    ))
      out.push(...items);
    expect(out).toEqual([1, 2, 3, 4]);
    expect(requests).toEqual([undefined, 't2', 't2', 't3']);
  });

  it('stops at an aborted signal before the next request', async () => {
    const controller = new AbortController();
    const iterator = listPages(async (token) => pages[token ?? 'first']!, { signal: controller.signal })[
      Symbol.asyncIterator
    ]();
    expect((await iterator.next()).value).toEqual([1, 2]);
    controller.abort(new Error('stop'));
    await expect(iterator.next()).rejects.toThrow('stop');
  });
});

describe('parseContentRange', () => {
  it('reads the served range and the total', () => {
    expect(parseContentRange('bytes 0-99/1234')).toEqual({ start: 0, end: 99, total: 1234 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
    expect(parseContentRange(undefined)).toBeUndefined();
    expect(parseContentRange('bytes */1234')).toBeUndefined();
  });
});

describe('parseHttpDate', () => {
  it('reads an HTTP date, and nothing from a missing or broken header', () => {
    expect(parseHttpDate('Mon, 30 Nov 2026 14:32:47 GMT')).toEqual(new Date('2026-11-30T14:32:47Z'));
    expect(parseHttpDate(undefined)).toBeUndefined();
    expect(parseHttpDate('not a date')).toBeUndefined();
  });
});

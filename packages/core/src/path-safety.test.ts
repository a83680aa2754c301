import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { baseName, joinKey, parentKey, validateArtifactPath } from './path-safety.js';

const HOSTILE = [
  '..',
  '../x',
  'a/../../x',
  'a/..',
  '/etc/passwd',
  '//proc/self/root',
  '%2e%2e/x',
  '%2E%2E/x',
  '.%2e/x',
  '%2e./x',
  '%252e%252e/x',
  '%25252e%25252e/x',
  'a/%2e%2e/%2e%2e/b',
  '%2fetc%2fpasswd',
  '%252fetc',
  '..\\x',
  'a\\b',
  '%5c..%5cx',
  'C:\\x',
  'C:/x',
  'c:x',
  'a\u0000b',
  'a%00b',
  'a\nb',
  'a%0Ab',
  'a\u001fb',
  'a\u007fb',
  'a#b',
  'a%23b',
  'file:///etc/passwd',
  's3://bucket/key',
  'a//b',
];

describe('validateArtifactPath', () => {
  it.each(HOSTILE)('refuses %j with invalid_argument', (path) => {
    let thrown: unknown;
    try {
      validateArtifactPath(path);
    } catch (error) {
      thrown = error;
    }
    expect(ArtifactsError.is(thrown, 'invalid_argument')).toBe(true);
    expect((thrown as Error).message).toContain('refused');
  });

  it.each([
    ['model/model.pkl', 'model/model.pkl'],
    ['./plots/a.png', 'plots/a.png'],
    ['plots/', 'plots'],
    ['a/./b', 'a/b'],
    ['', ''],
    ['données/été 2024.txt', 'données/été 2024.txt'],
    ['100%.txt', '100%.txt'],
    ['a..b/c..', 'a..b/c..'],
    ['...', '...'],
    ['weights;v=1.bin', 'weights;v=1.bin'],
    ['emoji-🚀.png', 'emoji-🚀.png'],
  ])('accepts %j as %j', (path, key) => {
    expect(validateArtifactPath(path)).toBe(key);
  });

  it('treats undefined and null as the root', () => {
    expect(validateArtifactPath(undefined)).toBe('');
    expect(validateArtifactPath(null)).toBe('');
  });

  it('refuses the root when a file path is needed', () => {
    expect(() => validateArtifactPath('', { allowRoot: false })).toThrow(/repository root/);
    expect(() => validateArtifactPath('./', { allowRoot: false })).toThrow(/repository root/);
  });

  it('names the offending value and the label in the message', () => {
    expect(() => validateArtifactPath('../secret', { label: "query parameter 'path'" })).toThrow(
      `query parameter 'path' "../secret" is refused: it contains a '..' segment`,
    );
  });

  it('refuses non-strings', () => {
    expect(() => validateArtifactPath(42 as unknown as string)).toThrow(/must be a string/);
  });
});

describe('key helpers', () => {
  it('joins, splits and names keys', () => {
    expect(joinKey('', 'a', '', 'b/c')).toBe('a/b/c');
    expect(baseName('a/b/c.txt')).toBe('c.txt');
    expect(baseName('/tmp/dir/')).toBe('dir');
    expect(parentKey('a/b/c')).toBe('a/b');
    expect(parentKey('a')).toBe('');
  });
});

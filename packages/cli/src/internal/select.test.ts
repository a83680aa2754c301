import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { selector, splitGlob } from './select.js';

describe('select', () => {
  it('matches --include/--exclude by file name at any depth, or by the whole path with a /', () => {
    const select = selector({ include: ['*.csv', 'plots/**'], exclude: ['skip.csv'] });
    expect(['a.csv', 'd/b.csv', 'skip.csv', 'd/skip.csv', 'plots/x.png', 'x.png'].filter(select)).toEqual([
      'a.csv',
      'd/b.csv',
      'plots/x.png',
    ]);
    expect(splitGlob('s3://b/run/*.csv')).toEqual({ base: 's3://b/run', pattern: '*.csv', deep: false });
    expect(splitGlob('s3://b/run/a.csv')).toBeUndefined();
  });

  it('loads picomatch on the first pattern only: a command without one does not pay for it', () => {
    // A fresh process (the source through tsx, the workspace's loader: Node 20 cannot strip types).
    const module = fileURLToPath(new URL('../index.ts', import.meta.url));
    const select = fileURLToPath(new URL('./select.ts', import.meta.url));
    const script = `
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('picomatch'));
      import(${JSON.stringify(module)}).then(async () => {
        const { selector, splitGlob } = await import(${JSON.stringify(select)});
        const before = loaded();
        selector({});
        splitGlob('s3://b/run/a.csv');
        const unfiltered = loaded();
        selector({ include: ['*.csv'] });
        console.log(JSON.stringify({ before, unfiltered, after: loaded() }));
      });`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' }),
    );
    expect(out).toEqual({ before: false, unfiltered: false, after: true });
  });
});

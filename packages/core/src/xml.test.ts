import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { xmlReader } from './xml.js';

describe('xmlReader', () => {
  it('keeps every value as text: keys, sizes and ETags that look like numbers stay as sent', () => {
    const read = xmlReader();
    const doc = read(
      '<ListBucketResult><Contents><Key>007</Key><Size>1e3</Size><ETag>"12"</ETag></Contents><IsTruncated>true</IsTruncated></ListBucketResult>',
    );
    expect(doc).toEqual({
      ListBucketResult: { Contents: { Key: '007', Size: '1e3', ETag: '"12"' }, IsTruncated: 'true' },
    });
  });

  it('decodes XML\'s entities and numeric references (MinIO writes `"` as `&#34;`)', () => {
    const read = xmlReader();
    expect(read('<E><ETag>&#34;abc&#34;</ETag><K>a&amp;b &lt;c&gt; &#x41;</K></E>')).toEqual({
      E: { ETag: '"abc"', K: 'a&b <c> A' },
    });
  });

  it('reads the named paths as arrays, one element or many, and no other', () => {
    const read = xmlReader({ arrays: ['R.Item'] });
    expect(read('<R><Item><K>a</K></Item><Other>x</Other></R>')).toEqual({
      R: { Item: [{ K: 'a' }], Other: 'x' },
    });
    expect(read('<R><Item><K>a</K></Item><Item><K>b</K></Item></R>')).toEqual({
      R: { Item: [{ K: 'a' }, { K: 'b' }] },
    });
    // Without the option, one element is an object (what an unconfigured reader gives).
    expect(xmlReader()('<R><Item><K>a</K></Item></R>')).toEqual({ R: { Item: { K: 'a' } } });
  });

  it('attributes as unprefixed members, untrimmed text, raw elements (an Azure listing page)', () => {
    const read = xmlReader({
      attributes: true,
      trimValues: false,
      arrays: ['L.Blobs.Blob'],
      raw: ['*.Properties'],
    });
    expect(
      read(
        '<L><Blobs><Blob><Name Encoded="true">a%20b</Name><Properties><Content-Length>12</Content-Length></Properties></Blob><Blob><Name> spaced </Name></Blob></Blobs></L>',
      ),
    ).toEqual({
      L: {
        Blobs: {
          Blob: [
            {
              Name: { '#text': 'a%20b', Encoded: 'true' },
              Properties: '<Content-Length>12</Content-Length>',
            },
            { Name: ' spaced ' },
          ],
        },
      },
    });
    // By default attributes are ignored and values trimmed.
    expect(xmlReader()('<N a="1"> x </N>')).toEqual({ N: 'x' });
  });

  it('refuses a document that is not well-formed only when asked to validate', () => {
    expect(xmlReader()('<a><b>')).toEqual({ a: { b: '' } });
    expect(() => xmlReader({ validate: true })('<a><b>')).toThrow(/closed|line 1/i);
    expect(() => xmlReader({ validate: true })('<a></b>')).toThrow();
    expect(xmlReader({ validate: true })('<a><b>1</b></a>')).toEqual({ a: { b: '1' } });
  });

  it('loads fast-xml-parser on the first document only, through its CommonJS bundle', () => {
    // A fresh process: importing this module loads no parser; the first read loads lib/fxp.cjs.
    // (The TypeScript source through tsx, the workspace's loader: Node 20 cannot strip types.)
    const module = fileURLToPath(new URL('./xml.ts', import.meta.url));
    const script = `
      const { createRequire } = require('node:module');
      const loaded = () => Object.keys(require.cache).filter((k) => k.includes('fast-xml-parser'));
      import(${JSON.stringify(module)}).then(({ xmlReader }) => {
        const before = loaded();
        const read = xmlReader();
        const built = loaded();
        read('<a>1</a>');
        console.log(JSON.stringify({ before, built, after: loaded() }));
      });`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
        encoding: 'utf8',
      }),
    ) as { before: string[]; built: string[]; after: string[] };
    expect(out.before).toEqual([]);
    expect(out.built).toEqual([]);
    expect(out.after.some((k) => k.endsWith('lib/fxp.cjs'))).toBe(true);
  });
});

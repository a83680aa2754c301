import { xmlReader } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { listingOf, scanListing } from './list.js';

// The XML parser the requests use for every other answer: the scanner must read a listing as it does.
const parse = xmlReader({ arrays: ['ListBucketResult.Contents', 'ListBucketResult.CommonPrefixes'] });
const parsed = (xml: string) => listingOf(parse(xml) as Parameters<typeof listingOf>[0]);

const head = '<?xml version="1.0" encoding="UTF-8"?>\n';
// MinIO's form: one line, `"` written as `&#34;`, names URL-encoded (`+` a space, `%2B` a plus).
const minio = `${head}<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>root/</Prefix><NextContinuationToken>bGF0L2E+Lw==&amp;x</NextContinuationToken><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>root/a+b%2Bc.txt</Key><LastModified>2026-12-02T18:23:16.265Z</LastModified><ETag>&#34;ee86&#34;</ETag><Size>3225</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>root/%C3%A9t%C3%A9%26%3C%3E</Key><ETag>&#x22;8c49&#x22;</ETag><Size>0</Size></Contents><CommonPrefixes><Prefix>root/dir%20x/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>root/d2/</Prefix></CommonPrefixes><EncodingType>url</EncodingType></ListBucketResult>`;
// AWS's form as another server may indent it: an owner, a checksum, whitespace around values.
const indented = `${head}<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name>
  <Prefix></Prefix>
  <KeyCount>1</KeyCount>
  <IsTruncated>false</IsTruncated>
  <Contents>
    <Key>
      k%27s
    </Key>
    <Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>
    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>
    <Size> 17 </Size>
  </Contents>
</ListBucketResult>`;

describe('scanListing', () => {
  it('reads a listing page as the XML parser does: names, sizes, prefixes, the next token', () => {
    expect(scanListing(minio)).toEqual({
      page: {
        objects: [
          { name: 'root/a b+c.txt', size: 3225 },
          { name: 'root/été&<>', size: 0 },
        ],
        prefixes: ['root/dir x/', 'root/d2/'],
      },
      next: 'bGF0L2E+Lw==&x',
    });
    expect(scanListing(minio)).toEqual(parsed(minio));
    expect(scanListing(indented)).toEqual({ page: { objects: [{ name: "k's", size: 17 }], prefixes: [] } });
    expect(scanListing(indented)).toEqual(parsed(indented));
    const empty = `${head}<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`;
    expect(scanListing(empty)).toEqual({ page: { objects: [], prefixes: [] } });
    expect(scanListing(empty)).toEqual(parsed(empty));
  });

  it('leaves an error, CDATA or comments to the XML parser, and refuses an entry it cannot read', () => {
    expect(scanListing(`${head}<Error><Code>AccessDenied</Code></Error>`)).toBeUndefined();
    expect(
      scanListing(minio.replace('<Key>root/a+b%2Bc.txt</Key>', '<Key><![CDATA[x]]></Key>')),
    ).toBeUndefined();
    expect(scanListing(minio.replace('<Name>', '<!-- c --><Name>'))).toBeUndefined();
    expect(() => scanListing(minio.replace('</Key>', ''))).toThrow(/unclosed <Key>/);
    expect(() => scanListing(minio.replace(/<Key>[^<]*<\/Key>/, ''))).toThrow(/without a Key/);
  });
});

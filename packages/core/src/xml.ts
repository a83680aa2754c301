import { createRequire } from 'node:module';

declare const __ARTIFACTS_CORE_FORMAT__: string | undefined;

/** How one kind of document is read; every reader keeps values as text and decodes all entities. */
export interface XmlReaderOptions {
  /** Elements read as arrays even when one is present, by path from the root (`ListBucketResult.Contents`). */
  arrays?: readonly string[];
  /** Attributes read as members of their element, unprefixed (its text then is `#text`). Default: ignored. */
  attributes?: boolean;
  /** Elements kept as their raw inner XML, by fast-xml-parser's stop-node pattern (`*.Properties`). */
  raw?: readonly string[];
  /** Whether whitespace around values is trimmed. Default: true. */
  trimValues?: boolean;
  /**
   * Refuse a document that is not well-formed (an unclosed element, say, which the parser alone
   * reads as far as it goes), with fast-xml-parser's validator: a second pass, for files a user
   * wrote (Hadoop's `*-site.xml`), not the stores' answers. Default: false.
   */
  validate?: boolean;
}

type XmlModule = typeof import('fast-xml-parser');
let loaded: XmlModule | undefined;

/**
 * fast-xml-parser, loaded on the first document read, through its CommonJS bundle: its ESM entry
 * adds about 10 MiB of RSS on import, the bundle under 1 MiB (docs/benchmarks/s3.md), and a run
 * that reads no XML (no listing, no error answer) loads neither.
 */
function xmlModule(): XmlModule {
  loaded ??= (
    typeof __ARTIFACTS_CORE_FORMAT__ === 'string' && __ARTIFACTS_CORE_FORMAT__ === 'cjs'
      ? require
      : createRequire(import.meta.url)
  )('fast-xml-parser') as XmlModule;
  return loaded;
}

/**
 * One XML reader for the stores' documents (listings, multipart answers, `<Error>` bodies), the
 * parser built on first use. Values stay text — keys, ETags and upload ids must never become
 * numbers —, and numeric character references are decoded as well as XML's own (MinIO, Go's encoder,
 * writes `"` as `&#34;`). The parser is lenient (`<a><b>` reads as nested elements); with `validate`, a
 * document that is not well-formed throws, naming its line.
 */
export function xmlReader(options: XmlReaderOptions = {}): (text: string) => Record<string, unknown> {
  let parser: { parse(text: string): unknown } | undefined;
  const arrays = new Set(options.arrays);
  return (text) => {
    parser ??= new (xmlModule().XMLParser)({
      parseTagValue: false,
      htmlEntities: true,
      ...(options.trimValues === false ? { trimValues: false } : {}),
      ...(options.attributes ? { ignoreAttributes: false, attributeNamePrefix: '' } : {}),
      ...(arrays.size ? { isArray: (_name: string, path: unknown) => arrays.has(String(path)) } : {}),
      ...(options.raw ? { stopNodes: [...options.raw] } : {}),
    });
    if (options.validate) {
      const valid = xmlModule().XMLValidator.validate(text);
      if (valid !== true) throw new Error(`${valid.err.msg} (line ${valid.err.line})`);
    }
    return parser.parse(text) as Record<string, unknown>;
  };
}

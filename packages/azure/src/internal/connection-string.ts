/** Azurite's well-known development account (`UseDevelopmentStorage=true`), as the SDK expands it. */
const DEVELOPMENT =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;';

/** What a storage connection string says about the blob service. */
export interface ConnectionString {
  /** The blob service's URL, without a trailing slash or query. */
  url: string;
  /** The account's name ('' for a custom domain given with a SAS only). */
  accountName: string;
  /** With an account key (base64). */
  accountKey?: string;
  /** With a SAS only: its query string, without `?`. */
  sas?: string;
}

function value(parts: Map<string, string>, name: string): string {
  return parts.get(name.toLowerCase()) ?? '';
}

/** The account of a SAS connection string's endpoint, as the SDK finds it (host, or path for IP hosts). */
function accountOfUrl(url: URL): string {
  const labels = url.hostname.split('.');
  if (labels[1] === 'blob') return labels[0]!.replace(/-secondary$/, '');
  const ipStyle =
    /^.*:.*:.*$|^(localhost|host\.docker\.internal)(:[0-9]+)?$|^\d{1,3}(\.\d{1,3}){3}(:[0-9]+)?$/.test(
      url.host,
    );
  return ipStyle ? (url.pathname.split('/')[1] ?? '') : '';
}

/**
 * Parses a storage connection string as `@azure/storage-blob` does (`UseDevelopmentStorage=true`,
 * account-key strings with `BlobEndpoint` or `DefaultEndpointsProtocol` + `EndpointSuffix`, SAS
 * strings with `BlobEndpoint` + `SharedAccessSignature`), without loading it. Throws an Error whose
 * message never holds the string's values.
 */
export function parseConnectionString(connectionString: string): ConnectionString {
  const text = connectionString.trim().startsWith('UseDevelopmentStorage=true')
    ? DEVELOPMENT
    : connectionString;
  const parts = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  let endpoint = value(parts, 'BlobEndpoint').replace(/\/+$/, '');
  const accountKey = value(parts, 'AccountKey');
  if (accountKey && (parts.has('defaultendpointsprotocol') || parts.has('accountname'))) {
    const accountName = value(parts, 'AccountName');
    if (!endpoint) {
      const protocol = value(parts, 'DefaultEndpointsProtocol').toLowerCase();
      if (protocol !== 'https' && protocol !== 'http')
        throw new Error("invalid DefaultEndpointsProtocol (expected 'https' or 'http')");
      const suffix = value(parts, 'EndpointSuffix');
      if (!suffix) throw new Error('no EndpointSuffix and no BlobEndpoint');
      endpoint = `${protocol}://${accountName}.blob.${suffix}`;
    }
    if (!accountName) throw new Error('no AccountName');
    if (!URL.canParse(endpoint)) throw new Error('the blob endpoint is not a URL');
    return { url: endpoint, accountName, accountKey };
  }
  if (!endpoint || !URL.canParse(endpoint)) throw new Error('no valid BlobEndpoint');
  const sas = value(parts, 'SharedAccessSignature').replace(/^\?/, '');
  if (!sas) throw new Error('no SharedAccessSignature and no AccountKey');
  return {
    url: endpoint,
    accountName: value(parts, 'AccountName') || accountOfUrl(new URL(endpoint)),
    sas,
  };
}

/** The secret parts of a connection string (AccountKey, SharedAccessSignature, and the SAS's signature). */
export function connectionStringSecrets(connectionString: string): string[] {
  const out: string[] = [];
  for (const part of connectionString.split(';')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (eq === -1 || !value || (name !== 'accountkey' && name !== 'sharedaccesssignature')) continue;
    out.push(value);
    // The signature alone is the secret part that may show up in a URL.
    const sig = /(?:^|&)sig=([^&]+)/.exec(value)?.[1];
    if (sig) out.push(decodeURIComponent(sig));
  }
  return out;
}

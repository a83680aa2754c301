import {
  type ArtifactUri,
  invalidUri,
  invalidUriAuthority,
  objectKeyPrefix,
  splitArtifactUri,
} from '@artifacts/core';

const CONTAINER = /^(?:\$root|\$web|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$/;
/** `<account>.blob.<suffix>`: the public cloud's `core.windows.net` or another cloud's (`core.chinacloudapi.cn`). */
const BLOB_HOST = /^([a-z0-9]{3,24})\.blob\.(core\.[a-z0-9.-]+)$/;

/**
 * Parses `wasbs://<container>@<account>.blob.core.windows.net/<path>` (and `wasb://`): the
 * container as `bucket`, the account, the cloud's endpoint suffix and the literal key prefix.
 */
export function parseAzureUri(uri: string): ArtifactUri {
  const parts = splitArtifactUri(uri);
  const { scheme } = parts;
  if (scheme !== 'wasbs' && scheme !== 'wasb')
    throw invalidUri(uri, `@artifacts/azure serves wasbs:// and wasb:// URIs, not ${scheme}:`);
  if (!parts.authority || parts.userInfo === undefined)
    throw invalidUri(uri, `expected ${scheme}://<container>@<account>.blob.core.windows.net/<path>`);
  const host = (parts.hostPort ?? '').toLowerCase();
  const hostMatch = BLOB_HOST.exec(host);
  if (!hostMatch)
    throw invalidUri(
      uri,
      `its host is not <account>.blob.core.windows.net (or another Azure cloud's suffix)`,
    );
  if (!CONTAINER.test(parts.userInfo)) throw invalidUriAuthority(uri, 'its container name is not valid');
  return {
    scheme,
    uri,
    ...(parts.query === undefined ? {} : { query: parts.query }),
    bucket: parts.userInfo,
    account: hostMatch[1]!,
    endpointSuffix: hostMatch[2]!,
    host,
    path: objectKeyPrefix(uri, parts.path),
  };
}

// A client to be killed: logs a local directory to a repository and exits 0 when done.
// usage: node upload-child.mjs <uri> <options JSON> <local dir> <artifact path>
import { openRepository } from '@artifacts/core';

const [uri, options, localDir, artifactPath] = process.argv.slice(2);
// Only the backend of this URI is loaded (each SDK costs start-up time before the upload begins).
const plugins = {
  's3:': '@artifacts/s3',
  'wasbs:': '@artifacts/azure',
  'gs:': '@artifacts/gcs',
  'hdfs:': '@artifacts/hdfs',
  'http:': '@artifacts/http',
  'sftp:': '@artifacts/sftp',
  'ftp:': '@artifacts/ftp',
};
await import(plugins[/^[a-z0-9]+:/.exec(uri)?.[0] ?? ''] ?? '@artifacts/local');
const repo = await openRepository(uri, JSON.parse(options));
process.stdout.write('started\n');
await repo.logArtifacts(localDir, artifactPath);
await repo.close();
process.stdout.write('done\n');

// A client to be killed: logs a local directory to a repository and exits 0 when done.
// usage: node upload-child.mjs <uri> <options JSON> <local dir> <artifact path>
import { openRepository } from '@artifacts/core';
import '@artifacts/ftp';
import '@artifacts/http';
import '@artifacts/local';
import '@artifacts/sftp';

const [uri, options, localDir, artifactPath] = process.argv.slice(2);
const repo = await openRepository(uri, JSON.parse(options));
process.stdout.write('started\n');
await repo.logArtifacts(localDir, artifactPath);
await repo.close();
process.stdout.write('done\n');

// A script that closes its repository at top level, as a user's script would: node exits 13 when
// the event loop empties while `await repo.close()` is unsettled.
// usage: node close-child.mjs <uri> <options JSON> <mode>
//   idle:    write a file, print "idle", wait for a line on stdin, then close;
//   opening: print "idle", wait for a line on stdin, start a write (its connection is being
//            opened), then close.
import { openRepository } from '@artifacts/core';
import '@artifacts/sftp';

const [uri, options, mode] = process.argv.slice(2);
const repo = await openRepository(uri, JSON.parse(options));
if (mode === 'idle') await repo.write('close.txt', 'x');
process.stdout.write('idle\n');
// The parent puts the link into the state under test, then says go.
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();
let pending;
if (mode === 'opening') {
  pending = repo.write('opening.txt', 'x').then(
    () => 'written',
    (error) => `failed: ${error.code ?? error.message}`,
  );
  // Let the connection start opening before the close.
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const started = Date.now();
await repo.close();
process.stdout.write(`closed in ${Date.now() - started} ms\n`);
if (pending) process.stdout.write(`write ${await pending}\n`);

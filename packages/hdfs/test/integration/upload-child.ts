// Run by hdfs.test.ts and killed with SIGKILL while it uploads: a client that dies mid-upload.
import { Readable } from 'node:stream';
import { openRepository } from '@artifacts/core';
import '../../src/index.js';

const uri = process.argv[2];
if (!uri) throw new Error('usage: upload-child.ts <uri>');
const repo = await openRepository(uri);
const chunk = Buffer.alloc(256 * 1024, 1);
let sent = 0;
const body = new Readable({
  async read() {
    sent += chunk.length;
    if (sent === 8 * 1024 * 1024) process.stdout.write('sending\n');
    // Slow enough that the parent kills us long before the end.
    if (sent > 8 * 1024 * 1024) await new Promise((r) => setTimeout(r, 50));
    this.push(chunk);
  },
});
await repo.write('model.bin', body);
process.stdout.write('finished\n');

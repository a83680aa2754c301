import { mkdir, writeFile, rm } from 'node:fs/promises';
import { openRepository } from '@artifacts/core';
import './dist/index.js';
const src = '/tmp/sf-src';
await rm(src, { recursive: true, force: true });
for (let i = 0; i < 2000; i++) { const d = `${src}/d${i % 50}`; if (i < 50) await mkdir(d, { recursive: true }); await writeFile(`${d}/f${i}.bin`, Buffer.alloc(4096, i)); }
await rm('/tmp/sf-repo', { recursive: true, force: true });
let t = Date.now();
const repo = await openRepository('/tmp/sf-repo');
await repo.logArtifacts(src, 'small');
console.log('logArtifacts 2000', Date.now() - t);
await rm('/tmp/sf-down', { recursive: true, force: true }); await mkdir('/tmp/sf-down');
t = Date.now();
await repo.downloadArtifacts('small', '/tmp/sf-down');
console.log('download 2000', Date.now() - t, 'maxRSS MB', process.resourceUsage().maxRSS / 1024);
await rm('/tmp/sf-repo', { recursive: true, force: true }); await rm(src, { recursive: true, force: true }); await rm('/tmp/sf-down', { recursive: true, force: true });

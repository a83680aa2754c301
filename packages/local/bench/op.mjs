// One measured operation in its own process, so that its peak RSS is its own.
// usage: node op.mjs <log-file|log-dir|download> <repo-root> <local-path> [artifact-path]
import { openRepository } from '@artifacts/core';
import '../dist/index.js';

const [op, root, local, artifactPath] = process.argv.slice(2);
const repo = await openRepository(root);
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
if (op === 'log-file') await repo.logArtifact(local, artifactPath);
else if (op === 'log-dir') await repo.logArtifacts(local, artifactPath);
else if (op === 'download') await repo.downloadArtifacts(artifactPath, local);
else throw new Error(`unknown op ${op}`);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
await repo.close();
const cpuUsed = process.cpuUsage(cpuBefore);
// CPU seconds (user + system) of the operation: far less sensitive than wall time to a busy machine.
const cpu = (cpuUsed.user + cpuUsed.system) / 1e6;
process.stdout.write(JSON.stringify({ ms, cpu, maxRssKiB: process.resourceUsage().maxRSS }));

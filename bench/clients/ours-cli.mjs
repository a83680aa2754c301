// Ours, through the CLI: `artifacts log` / `artifacts download`.
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

export default {
  id: 'ours-cli',
  label: () => 'ours (CLI)',
  backends: ['s3', 'azure', 'gcs', 'sftp', 'ftp', 'hdfs', 'local', 'proxy'],
  command: (ctx, op, p) => {
    const args = {
      'big-up': ['log', p.local, p.uri],
      'big-down': ['download', `${p.uri}/big.bin`, p.local],
      'small-up': ['log', p.local, `${p.uri}/small`],
      'small-down': ['download', `${p.uri}/small`, p.local],
    }[op];
    return { cmd: process.execPath, args: [...ctx.nodeFlags, bin, ...args, '--quiet'] };
  },
};

// coreutils cp (the local backend's yardstick): cp for one file, cp -r for a tree.
import { join } from 'node:path';

export default {
  id: 'cp',
  label: () => 'cp / cp -r',
  backends: ['local'],
  command: (c, op, p) => {
    const dir = c.path(p.rel);
    const args = {
      'big-up': ['-c', `mkdir -p '${dir}' && cp '${p.local}' '${dir}/big.bin'`],
      'big-down': ['-c', `cp '${dir}/big.bin' '${join(p.local, 'big.bin')}'`],
      'small-up': ['-c', `mkdir -p '${dir}' && cp -r '${p.local}' '${dir}/small'`],
      'small-down': ['-c', `cp -r '${dir}/small' '${join(p.local, 'small')}'`],
    }[op];
    return { cmd: 'sh', args };
  },
};

// OpenSSH's `sftp -b` (its defaults: 64 × 32 KiB requests in flight).
export default {
  id: 'openssh',
  label: () => 'OpenSSH sftp -b',
  backends: ['sftp'],
  command: (c, op, p) => {
    const dir = c.path(p.rel);
    const batch = {
      'big-up': `-mkdir ${c.path(p.rel.split('/').slice(0, -1).join('/'))}\n-mkdir ${dir}\nput ${p.local} ${dir}/big.bin\n`,
      'big-down': `get ${dir}/big.bin ${p.local}/big.bin\n`,
      'small-up': `-mkdir ${dir}\nput -r ${p.local} ${dir}/small\n`,
      'small-down': `get -r ${dir}/small ${p.local}/small\n`,
    }[op];
    const opts = [
      '-i',
      c.env.ARTIFACTS_SFTP_IDENTITY_FILE,
      '-o',
      `UserKnownHostsFile=${c.env.ARTIFACTS_SFTP_KNOWN_HOSTS}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-P',
      c.env.ARTIFACTS_IT_SFTP_PORT,
    ];
    return {
      cmd: 'sftp',
      args: ['-q', '-b', '-', ...opts, `${new URL(c.root).username}@${c.env.ARTIFACTS_IT_SFTP_HOST}`],
      input: batch,
    };
  },
};

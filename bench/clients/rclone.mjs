// rclone (Debian's package: apt-get install rclone), configured by flags only (--config /dev/null).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const flags = {
  s3: (c) => [
    '--s3-provider=Minio',
    `--s3-endpoint=${c.env.MLFLOW_S3_ENDPOINT_URL}`,
    `--s3-access-key-id=${c.env.AWS_ACCESS_KEY_ID}`,
    `--s3-secret-access-key=${c.env.AWS_SECRET_ACCESS_KEY}`,
    `--s3-region=${c.env.AWS_DEFAULT_REGION ?? 'us-east-1'}`,
    '--s3-no-check-bucket',
  ],
  // rclone 1.60 takes an endpoint suffix, not host:port: a container SAS URL reaches Azurite.
  azure: (c) => [
    `--azureblob-sas-url=${c.azureSasUrl}`,
    '--azureblob-chunk-size=8M',
    '--azureblob-upload-concurrency=4',
  ],
  gcs: (c) => [
    `--gcs-endpoint=${c.env.ARTIFACTS_IT_GCS_ENDPOINT}/storage/v1/`,
    '--gcs-anonymous',
    '--gcs-no-check-bucket',
  ],
  sftp: (c) => [
    `--sftp-host=${c.env.ARTIFACTS_IT_SFTP_HOST}`,
    `--sftp-port=${c.env.ARTIFACTS_IT_SFTP_PORT}`,
    `--sftp-user=${new URL(c.root).username}`,
    `--sftp-key-file=${c.env.ARTIFACTS_SFTP_IDENTITY_FILE}`,
    `--sftp-known-hosts-file=${c.env.ARTIFACTS_SFTP_KNOWN_HOSTS}`,
    '--sftp-disable-hashcheck',
  ],
  ftp: (c) => [
    `--ftp-host=${c.env.ARTIFACTS_IT_FTP_HOST}`,
    `--ftp-port=${c.env.ARTIFACTS_IT_FTP_PORT}`,
    `--ftp-user=${c.env.ARTIFACTS_IT_FTP_USER}`,
    // rclone's FTP connections are unlimited by default: with 16 checkers and 16 transfers it opens
    // more than the integration pure-ftpd accepts (421 "16 users (the maximum) are already logged
    // in"), and its transfers then wait for the 60 s idle timeout to free the listing's connections
    // (~70 s per 500-file download). 16: the --transfers count.
    '--ftp-concurrency=16',
  ],
  // HDFS's native RPC to the NameNode (not WebHDFS)
  hdfs: (c) => [
    `--hdfs-namenode=${new URL(c.root).host}`,
    `--hdfs-username=${c.env.HADOOP_USER_NAME ?? 'root'}`,
  ],
  local: () => [],
};

/** The rclone remote for a path relative to the backend's root. */
function remote(c, rel) {
  switch (c.backend) {
    case 's3':
      return `:s3:${c.bucket}/${c.key(rel)}`;
    case 'azure':
      return `:azureblob:${c.bucket}/${c.key(rel)}`;
    case 'gcs':
      return `:gcs:${c.bucket}/${c.key(rel)}`;
    case 'local':
      return c.path(rel);
    default:
      return `:${c.backend}:${c.path(rel)}`;
  }
}

let obscured;
export default {
  id: 'rclone',
  label: () =>
    `rclone ${/rclone (v[\w.-]+)/.exec(execFileSync('rclone', ['version'], { encoding: 'utf8' }))?.[1] ?? ''}`,
  backends: Object.keys(flags),
  available: (c) => (c.has('rclone') ? undefined : 'rclone not on PATH (Debian: apt-get install rclone)'),
  command: (c, op, p) => {
    const args = {
      'big-up': ['copyto', p.local, remote(c, `${p.rel}/big.bin`)],
      'big-down': ['copyto', remote(c, `${p.rel}/big.bin`), join(p.local, 'big.bin')],
      'small-up': ['copy', p.local, remote(c, `${p.rel}/small`)],
      'small-down': ['copy', remote(c, `${p.rel}/small`), join(p.local, 'small')],
    }[op];
    const env = {};
    if (c.backend === 'ftp') {
      obscured ??= execFileSync('rclone', ['obscure', '-'], {
        input: c.env.ARTIFACTS_IT_FTP_PASSWORD,
        encoding: 'utf8',
      }).trim();
      env.RCLONE_FTP_PASS = obscured;
    }
    const common = ['--config=/dev/null', '--transfers=16', '--checkers=16'];
    // the machine's AWS_CA_BUNDLE (for TLS tests) would make rclone's S3 client fail on plain http
    return {
      cmd: 'rclone',
      args: [...args, ...common, ...flags[c.backend](c)],
      env,
      unset: ['AWS_CA_BUNDLE'],
    };
  },
};

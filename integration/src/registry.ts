/** Server name → launcher. Each file under servers/ exports `launcher: Launcher`. */
import { launcher as azure } from './servers/azure.js';
import { launcher as ftp } from './servers/ftp.js';
import { launcher as gcs } from './servers/gcs.js';
import { launcher as hdfs, kerberosLauncher as hdfsKerberos } from './servers/hdfs.js';
import { launcher as mlflowNative } from './servers/mlflow.js';
import { startMlflowContainer } from './servers/mlflow-container.js';
import { launcher as s3 } from './servers/s3.js';
import { launcher as sftp } from './servers/sftp.js';
import type { Launcher, ServerName } from './types.js';

/** Every server, in the order `pnpm servers up` starts them. */
export const ALL_SERVERS: readonly ServerName[] = [
  's3',
  'azure',
  'gcs',
  'sftp',
  'ftp',
  'hdfs',
  'hdfs-kerberos',
  'mlflow',
];

// MLflow's container path lives apart from its native launcher (servers/mlflow-container.ts)
const mlflow: Launcher = { ...mlflowNative, startContainer: startMlflowContainer };

export const launchers: Record<ServerName, Launcher> = {
  s3,
  azure,
  gcs,
  sftp,
  ftp,
  hdfs,
  'hdfs-kerberos': hdfsKerberos,
  mlflow,
};

export function isServerName(name: string): name is ServerName {
  return (ALL_SERVERS as readonly string[]).includes(name);
}

export function getLauncher(name: string): Launcher {
  if (!isServerName(name)) {
    throw new Error(`unknown server '${name}' (known: ${ALL_SERVERS.join(', ')})`);
  }
  return launchers[name];
}

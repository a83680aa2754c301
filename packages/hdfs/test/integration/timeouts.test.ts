import { openRepository } from '@artifacts/core';
import {
  describeTimeouts,
  type RedirectRewriter,
  startRedirectRewriter,
  webhdfsDataNodePort,
} from '@artifacts/testkit';
import { afterAll, beforeAll } from 'vitest';
import '../../src/index.js';
import { env, hdfsPath, unique } from './helpers.js';

// WebHDFS sends every read and write to the DataNode's own address: the proxy fronts the NameNode,
// and a hop behind it rewrites those redirects to a route of the same proxy in front of the
// DataNode, so the file's bytes are paced and stalled too.
const namenodePort = () => Number(new URL(env('ARTIFACTS_IT_HDFS_WEBHDFS_URL')).port);
const routes = new Map<number, number>();
let hop: RedirectRewriter;
let datanodePort: number;
beforeAll(async () => {
  datanodePort = await webhdfsDataNodePort(
    env('ARTIFACTS_IT_HDFS_WEBHDFS_URL'),
    `${hdfsPath(env('ARTIFACTS_IT_HDFS_URI'))}/.probe`,
    env('HADOOP_USER_NAME'),
  );
  hop = await startRedirectRewriter(namenodePort(), (port) => routes.get(port));
});
afterAll(() => hop.close());

// The DataNode stops reading a new file's body while it allocates its first block and sets up its
// write pipeline (its packet queue, about 4 MiB, fills meanwhile): 1–1.2 s without a byte taken was
// measured at the start of a paced upload on a busy machine, time in which the client rightly sees
// no progress. The timeout leaves room for that and for the loopback socket buffers that drain
// unseen (see describeTimeouts); a real stall still fails within it plus a few seconds.
describeTimeouts('hdfs', {
  timeoutMs: 4000,
  get target() {
    return { host: '127.0.0.1', port: hop.port };
  },
  open: async (proxy, timeoutMs) => {
    routes.set(datanodePort, (await proxy.route({ host: '127.0.0.1', port: datanodePort })).port);
    return openRepository(unique(env('ARTIFACTS_IT_HDFS_URI'), 'timeouts'), {
      timeoutMs,
      webhdfsUrl: `http://${proxy.host}:${proxy.port}`,
      hadoopConfDir: false,
    });
  },
});

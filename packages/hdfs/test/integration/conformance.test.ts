import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { env, unique } from './helpers.js';

// hdfs://127.0.0.1:<rpc port>/artifacts-it: the WebHDFS endpoint comes from the environment
// (ARTIFACTS_HDFS_WEBHDFS_URL, as the launcher exports it).
describeConformance('hdfs on MiniDFSCluster (WebHDFS)', {
  open: () => openRepository(unique(env('ARTIFACTS_IT_HDFS_URI'), 'conformance')),
  largeFileBytes: 256 * 1024 * 1024,
  manyFiles: 1000,
});

// One connection per node: everything the suite does queues on a single socket each.
describeConformance('hdfs on MiniDFSCluster (one connection, webhdfs:// URI)', {
  open: () => {
    const http = new URL(env('ARTIFACTS_IT_HDFS_WEBHDFS_URL'));
    const root = new URL(env('ARTIFACTS_IT_HDFS_URI')).pathname;
    return openRepository(unique(`webhdfs://${http.host}${root}`, 'conformance1'), { maxConnections: 1 });
  },
  largeFileBytes: 32 * 1024 * 1024,
  manyFiles: 200,
});

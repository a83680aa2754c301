import { ArtifactsError, type ArtifactUri, type BackendPlugin, parseArtifactUri } from '@artifacts/core';
import { S3Driver } from './internal/driver.js';
import { S3Requests } from './internal/requests.js';
import { resolveS3Config } from './internal/settings.js';
import type { S3Options } from './options.js';

const SCHEMES = ['s3', 's3a', 's3n'] as const;

function parse(uri: string): ArtifactUri {
  const location = parseArtifactUri(uri);
  if (!(SCHEMES as readonly string[]).includes(location.scheme) || !location.bucket) {
    throw ArtifactsError.invalidArgument(
      `@artifacts/s3 serves s3://<bucket>/<prefix> URIs (also s3a:// and s3n://), got ${JSON.stringify(location.scheme)}`,
    );
  }
  return location;
}

/** The `s3://` backend: Amazon S3 and S3-compatible services (MinIO, …). */
export const s3Backend: BackendPlugin<S3Options> = {
  name: '@artifacts/s3',
  schemes: SCHEMES,
  parse,
  // A small file is one round trip: at 50 ms of latency 16 in flight capped 5,000 files at 168–204
  // files/s, 64 gave 248–443 (docs/benchmarks/s3.md, 2026-12-02 smallfiles); on loopback, level.
  defaultMaxConcurrency: 64,
  open(location, options, context) {
    const config = resolveS3Config(options);
    // One keep-alive socket per request the repository can have in flight: files × parts (or ranges).
    const maxSockets = context.maxConcurrency * Math.max(config.uploadQueueSize, config.downloadConcurrency);
    return new S3Driver(
      location.bucket!,
      location.path,
      config,
      new S3Requests(config, maxSockets, context.timeoutMs),
      config.secrets,
      context,
    );
  },
};

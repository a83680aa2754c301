import { readFileSync } from 'node:fs';
import { ArtifactsError, HttpPool } from '@artifacts/core';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LeanS3 } from './lean.js';
import { DEFAULT_REGION, type ResolvedS3Config } from './settings.js';

export interface BuiltClient {
  client: S3Client;
  /**
   * A twin used only for presigning: with checksum calculation "when required", so presigned PUT
   * and UploadPart URLs do not carry the checksum of an empty body that would fail real uploads.
   */
  presignClient: S3Client;
  endpoint: string;
  /**
   * Our own request path for GetObject/PutObject/UploadPart: on a configured endpoint with path-style
   * addressing and no `clientConfig` (AWS itself, virtual hosts and SDK overrides go through the SDK).
   */
  lean: LeanS3 | undefined;
  destroy(): void;
}

function loadCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw ArtifactsError.invalidArgument(
      `@artifacts/s3: cannot read the CA bundle ${JSON.stringify(path)} (AWS_CA_BUNDLE or option caBundle): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

const QUIET_LOGGER = { debug() {}, info() {}, warn() {}, error() {} };

/** Builds the S3 client (and its presigning twin) from a resolved configuration. */
export function buildClient(config: ResolvedS3Config, maxSockets: number): BuiltClient {
  const tlsOptions =
    config.tls.kind === 'ignore'
      ? { rejectUnauthorized: false }
      : config.tls.kind === 'ca'
        ? { ca: loadCa(config.tls.path) }
        : {};
  // One keep-alive pool (core's) for the SDK's requests and ours.
  const pool = new HttpPool({
    connections: maxSockets,
    tls: tlsOptions,
    connectMs: config.connectTimeoutMs,
    connectSetting: 'connectTimeoutMs',
  });
  const requestHandler = new NodeHttpHandler({
    httpAgent: pool.agent(false),
    httpsAgent: pool.agent(true),
    connectionTimeout: config.connectTimeoutMs,
    socketTimeout: config.socketTimeoutMs,
  });

  const region = config.region;
  const base: S3ClientConfig = {
    // An explicit region wins; otherwise the SDK's chain, and us-east-1 when it has none (S3 then
    // redirects to the bucket's region, which followRegionRedirects follows).
    region: region ?? regionFromChain(config.profile),
    followRegionRedirects: true,
    forcePathStyle: config.forcePathStyle,
    requestHandler,
    requestChecksumCalculation: config.checksumAlgorithm === 'NONE' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    // Core verifies the checksum S3 returns while it streams; the SDK verifying too would hash
    // every byte twice (and it cannot check ranged or parallel downloads anyway).
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(config.endpointUrl ? { endpoint: config.endpointUrl } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    ...(config.profile ? { profile: config.profile } : {}),
    // Core's retry layer and upload engine are the one place that retries: the SDK makes one attempt
    // unless the user asked for more (option maxAttempts, or AWS_MAX_ATTEMPTS which the SDK reads).
    ...sdkAttempts(config.maxAttempts),
    ...(config.anonymous ? anonymousAuth() : {}),
    // The SDK does not retry a request whose body is a stream (core's engine retries such parts),
    // and says so on the console unless a logger is set: the error itself reaches the caller.
    logger: QUIET_LOGGER,
  };
  const client = new S3Client({ ...base, ...(config.clientConfig as S3ClientConfig) });
  const presignClient = new S3Client({
    ...base,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...(config.clientConfig as S3ClientConfig),
  });
  for (const c of [client, presignClient]) installMiddleware(c, config.expectedBucketOwner);
  const algorithm = config.uploadExtraArgs.ChecksumAlgorithm ?? config.checksumAlgorithm;
  if (algorithm !== 'NONE') askForChecksums(client);
  const leanable =
    config.endpointUrl !== undefined &&
    config.forcePathStyle &&
    Object.keys(config.clientConfig).length === 0;
  return {
    client,
    presignClient,
    endpoint: config.endpointUrl ?? 'AWS S3',
    lean: leanable
      ? new LeanS3(
          { credentials: () => client.config.credentials(), region: () => client.config.region() },
          pool,
          {
            endpoint: config.endpointUrl as string,
            anonymous: config.anonymous === true,
            stallMs: config.socketTimeoutMs,
            expectedBucketOwner: config.expectedBucketOwner,
          },
        )
      : undefined,
    destroy() {
      client.destroy();
      presignClient.destroy();
      pool.destroy();
    },
  };
}

function regionFromChain(profile: string | undefined): () => Promise<string> {
  let cached: Promise<string> | undefined;
  return () => {
    cached ??= (async () => {
      // A throwaway client resolves the SDK's own region chain (AWS_REGION, the profile's region).
      const probe = new S3Client(profile ? { profile } : {});
      try {
        return await probe.config.region();
      } catch {
        return DEFAULT_REGION;
      } finally {
        probe.destroy();
      }
    })();
    return cached;
  };
}

/** Unsigned requests for public buckets: the SDK's auth schemes with a signer that signs nothing. */
function anonymousAuth(): Partial<S3ClientConfig> {
  const unsigned = {
    identityProvider: () => async () => ({}),
    signer: { sign: async (request: unknown) => request },
  };
  return {
    httpAuthSchemes: [
      { schemeId: 'aws.auth#sigv4', ...unsigned },
      { schemeId: 'aws.auth#sigv4a', ...unsigned },
    ],
  } as unknown as Partial<S3ClientConfig>;
}

type Stack = S3Client['middlewareStack'];

function installMiddleware(client: S3Client, expectedBucketOwner: string | undefined): void {
  const stack = client.middlewareStack as Stack;
  if (expectedBucketOwner) {
    // Every operation that takes ExpectedBucketOwner gets it; serializers ignore it elsewhere.
    stack.add(
      (next) => async (args) => {
        const input = args.input as Record<string, unknown>;
        if (input.ExpectedBucketOwner === undefined) input.ExpectedBucketOwner = expectedBucketOwner;
        return next(args);
      },
      { step: 'initialize', name: 'artifactsExpectedBucketOwner', priority: 'high' },
    );
  }
}

/**
 * Whole-object GETs ask S3 for the object's stored checksum, which core verifies while it streams.
 * A header, not the input's `ChecksumMode`: that would make the SDK hash every byte again. Installed
 * once on the client rather than on each command (a per-command stack is copied on every send).
 */
function askForChecksums(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> } | undefined)?.headers;
      const ranged = (args.input as { Range?: string }).Range !== undefined;
      if (context.commandName === 'GetObjectCommand' && headers && !ranged)
        headers['x-amz-checksum-mode'] = 'ENABLED';
      return next(args);
    },
    { step: 'build', name: 'artifactsChecksumMode' },
  );
}

/**
 * The SDK's attempts per request: the user's `maxAttempts`, else `AWS_MAX_ATTEMPTS` (left for the SDK
 * to read), else 1 — core's retry layer retries, so the SDK's own retries would multiply its waits.
 */
export function sdkAttempts(
  maxAttempts: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { maxAttempts?: number } {
  if (maxAttempts !== undefined) return { maxAttempts };
  if ((env.AWS_MAX_ATTEMPTS ?? '').trim() !== '') return {};
  return { maxAttempts: 1 };
}

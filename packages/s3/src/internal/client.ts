import { readFileSync } from 'node:fs';
import { ArtifactsError, HttpPool } from '@artifacts/core';
import type * as Sdk from '@aws-sdk/client-s3';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Credentials } from '../options.js';
import { type LeanIdentity, LeanS3 } from './lean.js';
import { DEFAULT_REGION, type ResolvedS3Config } from './settings.js';
import { sharedConfigRegion } from './shared-config.js';

/** The SDK's commands the driver sends, by name: input and output. */
interface Commands {
  AbortMultipartUpload: [Sdk.AbortMultipartUploadCommandInput, Sdk.AbortMultipartUploadCommandOutput];
  CompleteMultipartUpload: [
    Sdk.CompleteMultipartUploadCommandInput,
    Sdk.CompleteMultipartUploadCommandOutput,
  ];
  CopyObject: [Sdk.CopyObjectCommandInput, Sdk.CopyObjectCommandOutput];
  CreateMultipartUpload: [Sdk.CreateMultipartUploadCommandInput, Sdk.CreateMultipartUploadCommandOutput];
  DeleteObjects: [Sdk.DeleteObjectsCommandInput, Sdk.DeleteObjectsCommandOutput];
  GetObject: [Sdk.GetObjectCommandInput, Sdk.GetObjectCommandOutput];
  HeadObject: [Sdk.HeadObjectCommandInput, Sdk.HeadObjectCommandOutput];
  ListObjectsV2: [Sdk.ListObjectsV2CommandInput, Sdk.ListObjectsV2CommandOutput];
  PutObject: [Sdk.PutObjectCommandInput, Sdk.PutObjectCommandOutput];
  UploadPart: [Sdk.UploadPartCommandInput, Sdk.UploadPartCommandOutput];
  UploadPartCopy: [Sdk.UploadPartCopyCommandInput, Sdk.UploadPartCopyCommandOutput];
}
export type CommandName = keyof Commands;

/** An SDK command named, not built: building it needs the SDK, which is loaded when one is sent. */
export interface LazyCommand<N extends CommandName = CommandName> {
  name: N;
  input: Commands[N][0];
}

export function command<N extends CommandName>(name: N, input: Commands[N][0]): LazyCommand<N> {
  return { name, input };
}

/** The SDK's client seen through named commands: `@aws-sdk/client-s3` is loaded by the first send. */
export interface LazyClient {
  send<N extends CommandName>(
    command: LazyCommand<N>,
    options?: { abortSignal?: AbortSignal },
  ): Promise<Commands[N][1]>;
}

export interface BuiltClient {
  /** The SDK's S3Client, for the operations we do not send ourselves; built on first use. */
  client: LazyClient;
  /**
   * A presigned URL of a command, from a twin client with checksum calculation "when required", so
   * presigned PUT and UploadPart URLs do not carry the checksum of an empty body.
   */
  presign(command: LazyCommand<'GetObject' | 'PutObject' | 'UploadPart'>, expiresIn: number): Promise<string>;
  endpoint: string;
  /**
   * Whether the endpoint has answered one of our requests before: a refused connection is then a
   * restart worth retrying, not a wrong address (core's `connectFailure`).
   */
  reached(): boolean;
  /**
   * Our own request path for GetObject/PutObject/UploadPart: on a configured endpoint with path-style
   * addressing and no `clientConfig` (AWS itself, virtual hosts and SDK overrides go through the SDK).
   */
  lean: LeanS3 | undefined;
  /** Whether the SDK has been loaded (for tests and benchmarks). */
  readonly sdkLoaded: boolean;
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

/**
 * Builds our request path and, lazily, the SDK's clients from a resolved configuration. Nothing of
 * the SDK is loaded until an operation needs it: with static credentials (the option, or
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` without a profile) and a region we can resolve
 * ourselves, GetObject/PutObject/UploadPart run without it (about 28 MiB of memory and the CPU of
 * loading it, in every process).
 */
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
  let built: { s3: typeof Sdk; client: S3Client; presignClient: S3Client } | undefined;
  let loading: Promise<NonNullable<typeof built>> | undefined;
  let destroyed = false;
  const sdk = () => {
    loading ??= (async () => {
      const [s3, { NodeHttpHandler }] = await Promise.all([
        import('@aws-sdk/client-s3'),
        import('@smithy/node-http-handler'),
      ]);
      const requestHandler = new NodeHttpHandler({
        httpAgent: pool.agent(false),
        httpsAgent: pool.agent(true),
        connectionTimeout: config.connectTimeoutMs,
        socketTimeout: config.socketTimeoutMs,
      });
      const clients = sdkClients(s3, config, requestHandler);
      if (destroyed) for (const c of [clients.client, clients.presignClient]) c.destroy();
      built = { s3, ...clients };
      return built;
    })();
    return loading;
  };
  const client: LazyClient = {
    async send(lazy, options) {
      const { s3, client } = await sdk();
      const Command = s3[`${lazy.name}Command`] as unknown as new (input: unknown) => Sdk.HeadObjectCommand;
      return client.send(new Command(lazy.input), options ?? {}) as never;
    },
  };
  const leanable =
    config.endpointUrl !== undefined &&
    config.forcePathStyle &&
    Object.keys(config.clientConfig).length === 0;
  return {
    client,
    async presign(lazy, expiresIn) {
      const [{ s3, presignClient }, { getSignedUrl }] = await Promise.all([
        sdk(),
        import('@aws-sdk/s3-request-presigner'),
      ]);
      const Command = s3[`${lazy.name}Command`] as unknown as new (input: unknown) => Sdk.GetObjectCommand;
      return getSignedUrl(presignClient, new Command(lazy.input), { expiresIn });
    },
    endpoint: config.endpointUrl ?? 'AWS S3',
    reached: () => config.endpointUrl !== undefined && pool.reached(config.endpointUrl),
    lean: leanable
      ? new LeanS3(
          staticIdentity(config) ?? {
            credentials: async () => (await sdk()).client.config.credentials(),
            region: async () => (await sdk()).client.config.region(),
          },
          pool,
          {
            endpoint: config.endpointUrl as string,
            anonymous: config.anonymous === true,
            stallMs: config.socketTimeoutMs,
            expectedBucketOwner: config.expectedBucketOwner,
          },
        )
      : undefined,
    get sdkLoaded() {
      return built !== undefined;
    },
    destroy() {
      destroyed = true;
      built?.client.destroy();
      built?.presignClient.destroy();
      pool.destroy();
    },
  };
}

function sdkClients(
  s3: typeof Sdk,
  config: ResolvedS3Config,
  requestHandler: S3ClientConfig['requestHandler'],
): { client: S3Client; presignClient: S3Client } {
  const region = config.region;
  const base: S3ClientConfig = {
    // An explicit region wins; otherwise the SDK's chain, and us-east-1 when it has none (S3 then
    // redirects to the bucket's region, which followRegionRedirects follows).
    region: region ?? regionFromChain(s3, config.profile),
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
  const client = new s3.S3Client({ ...base, ...(config.clientConfig as S3ClientConfig) });
  const presignClient = new s3.S3Client({
    ...base,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...(config.clientConfig as S3ClientConfig),
  });
  for (const c of [client, presignClient]) installMiddleware(c, config.expectedBucketOwner);
  const algorithm = config.uploadExtraArgs.ChecksumAlgorithm ?? config.checksumAlgorithm;
  if (algorithm !== 'NONE') askForChecksums(client);
  return { client, presignClient };
}

/**
 * The identity and region of our own requests when they can be known without the SDK, as its chains
 * would find them: credentials given as an object, or `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
 * (with `AWS_SESSION_TOKEN`) when no profile is named (the SDK then skips the environment); the
 * region given, else `AWS_REGION`, else the profile's in the shared config files (read without the
 * SDK), else us-east-1. Other credentials (a provider function, a profile, SSO, roles) are the SDK's
 * to resolve.
 */
export function staticIdentity(
  config: Partial<Pick<ResolvedS3Config, 'credentials' | 'region' | 'profile'>>,
  env: NodeJS.ProcessEnv = process.env,
): LeanIdentity | undefined {
  let credentials: S3Credentials | undefined;
  if (typeof config.credentials === 'object') credentials = config.credentials;
  else if (config.credentials === undefined && !config.profile && !env.AWS_PROFILE) {
    const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = env;
    if (id && secret)
      credentials = { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
  }
  if (!credentials) return undefined;
  // The SDK's region chain (`regionFromChain`) without the SDK: us-east-1 where it finds none.
  const region =
    config.region ??
    (env.AWS_REGION || undefined) ??
    sharedConfigRegion(config.profile, env) ??
    DEFAULT_REGION;
  const fixed = credentials;
  const where = region;
  return { credentials: () => fixed, region: () => where };
}

function regionFromChain(s3: typeof Sdk, profile: string | undefined): () => Promise<string> {
  let cached: Promise<string> | undefined;
  return () => {
    cached ??= (async () => {
      // A throwaway client resolves the SDK's own region chain (AWS_REGION, the profile's region).
      const probe = new s3.S3Client(profile ? { profile } : {});
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

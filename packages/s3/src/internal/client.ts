import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { expandHome, lazily, refreshing, type SigningCredentials, sharedLookup } from '@artifacts/core';
import type { S3Credentials, S3CredentialsProvider } from '../options.js';
import { DEFAULT_REGION, type ResolvedS3Config } from './settings.js';

/** Who signs: the credentials of each request (resolved once, or refreshed by a provider). */
export type Identity = () => SigningCredentials | Promise<SigningCredentials>;

/**
 * The signing region, as the SDK's chain finds it, without the SDK's client: the one given (option or
 * `AWS_DEFAULT_REGION`), else `AWS_REGION`, else the profile's in the shared config files, else
 * us-east-1 (a bucket elsewhere on AWS is then reached through S3's redirect). A string when known
 * at once; the files are read only when neither names one.
 */
export function regionOf(
  config: Partial<Pick<ResolvedS3Config, 'region' | 'profile'>>,
  env: NodeJS.ProcessEnv = process.env,
): string | Promise<string> {
  const given = config.region ?? (env.AWS_REGION || undefined);
  if (given) return given;
  return sharedConfigRegion(config.profile, env).then((region) => region ?? DEFAULT_REGION);
}

/**
 * The profile's region in the shared files (the profile: the option, else `AWS_PROFILE`, else
 * `default`), read and parsed by the SDK's own loader (`@smithy/core/config`, imported only here):
 * `AWS_CONFIG_FILE` (else `~/.aws/config`, `[profile name]`) and `AWS_SHARED_CREDENTIALS_FILE` (else
 * `~/.aws/credentials`, `[name]`), which the SDK's region provider prefers. A missing file is empty.
 */
export async function sharedConfigRegion(
  profile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  // The paths are decided here so that `env` (HOME too) is the one asked, not always process.env.
  const home = env.HOME || env.USERPROFILE || homedir();
  const file = (variable: string, fallback: string) =>
    expandHome(env[variable] || join(home, '.aws', fallback), home);
  const [configFilepath, filepath] = [
    file('AWS_CONFIG_FILE', 'config'),
    file('AWS_SHARED_CREDENTIALS_FILE', 'credentials'),
  ];
  // Without either file (containers, CI, a MinIO client) the loader would find nothing: loading it
  // costs ~50 ms of CPU and ~7 MB per process (measured), so it is not loaded for nothing.
  if (!existsSync(configFilepath) && !existsSync(filepath)) return undefined;
  const { loadSharedConfigFiles } = await import('@smithy/core/config');
  const { configFile, credentialsFile } = await loadSharedConfigFiles({
    configFilepath,
    filepath,
    ignoreCache: true,
  });
  const name = profile || env.AWS_PROFILE || 'default';
  return credentialsFile[name]?.region ?? configFile[name]?.region;
}

/**
 * Credentials known without the SDK: given as an object, or `AWS_ACCESS_KEY_ID` and
 * `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`) when no profile is named (the SDK's chain then
 * takes them from the environment first too).
 */
export function staticCredentials(
  config: Partial<Pick<ResolvedS3Config, 'credentials' | 'profile'>>,
  env: NodeJS.ProcessEnv = process.env,
): S3Credentials | undefined {
  if (typeof config.credentials === 'object') return config.credentials;
  if (config.credentials !== undefined || config.profile || env.AWS_PROFILE) return undefined;
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = env;
  if (!id || !secret) return undefined;
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}

/**
 * Who signs: static credentials; else a provider function given as the option; else the AWS SDK's
 * credential chain (profiles, SSO, web identity, container and instance roles), the only part of the
 * SDK the driver uses, loaded on the first request that needs it. Provided credentials are kept until
 * five minutes before they expire. Each fetch is bounded by `waitMs` (core's `credentialWaitMs`): the
 * chain waits without bound for a profile's `credential_process` that never exits, and a provider
 * given in code may never settle. A fetch whose wait ran out is not started again beside itself: the
 * next fetch waits on it (core's `sharedLookup`), so one hung `credential_process` is one child.
 */
export function identityOf(
  config: Pick<ResolvedS3Config, 'credentials' | 'profile'>,
  waitMs: number,
): Identity {
  const fixed = staticCredentials(config);
  if (fixed) return () => fixed;
  const given = typeof config.credentials === 'function' ? config.credentials : undefined;
  const provider: S3CredentialsProvider = given ?? sdkChain(config.profile);
  const lookup = sharedLookup(
    () => provider(),
    waitMs,
    (seconds) =>
      given
        ? `no AWS credentials within ${seconds} s: the credentials provider (option credentials) did not answer`
        : `no AWS credentials within ${seconds} s: the SDK's credential chain (profiles, SSO, web identity, container or instance role) did not answer (an instance metadata endpoint, or a profile's credential_process, that never answers): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), the anonymous option for a public bucket, or AWS_EC2_METADATA_DISABLED=true off EC2`,
  );
  return refreshing(
    () => lookup(),
    (credentials) => credentials.expiration && credentials.expiration.getTime() - 300_000,
  );
}

/** The SDK's default chain, through an S3Client's resolved config (loaded on first use). */
function sdkChain(profile: string | undefined): S3CredentialsProvider {
  const chain = lazily(async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ region: DEFAULT_REGION, ...(profile ? { profile } : {}) });
    return () => client.config.credentials() as Promise<S3Credentials>;
  });
  return async () => (await chain())();
}

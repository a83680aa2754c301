import { ArtifactsError, importOptional, parseArtifactUri } from '@artifacts/core';
import { InvalidArgumentError, Option } from 'commander';
import type { RegisterCommand } from '../context.js';
import { UsageError } from '../exit-codes.js';
import { loadBackend, localize } from '../target.js';
import { integer } from './options.js';

/** Every `serve` flag with the server variable it stands for: the flag wins, the variable is the default. */
const SETTINGS: Array<{
  flag: string;
  env: string;
  help: string;
  parse?: (value: string) => unknown;
  boolean?: boolean;
}> = [
  {
    flag: '--artifacts-destination <uri>',
    env: 'ARTIFACTS_SERVER_ARTIFACTS_DESTINATION',
    help: 'where artifacts are stored (default ./mlartifacts)',
  },
  { flag: '--host <host>', env: 'ARTIFACTS_SERVER_HOST', help: 'address to bind (default 127.0.0.1)' },
  {
    flag: '--port <port>',
    env: 'ARTIFACTS_SERVER_PORT',
    help: 'port to bind (default 5000; 0 picks a free one)',
    parse: integer('--port', 65535),
  },
  {
    flag: '--users-file <path>',
    env: 'ARTIFACTS_SERVER_USERS_FILE',
    help: 'HTTP basic users, one name:password a line',
  },
  { flag: '--tokens-file <path>', env: 'ARTIFACTS_SERVER_TOKENS_FILE', help: 'bearer tokens, one a line' },
  {
    flag: '--tls-cert <path>',
    env: 'ARTIFACTS_SERVER_TLS_CERT',
    help: 'serve HTTPS with this PEM certificate chain (with --tls-key)',
  },
  { flag: '--tls-key <path>', env: 'ARTIFACTS_SERVER_TLS_KEY', help: 'the PEM private key for --tls-cert' },
  {
    flag: '--allowed-hosts <names>',
    env: 'ARTIFACTS_SERVER_ALLOWED_HOSTS',
    help: "comma-separated Host names answered (others get 403; '.example.com' for a domain, '*' for any; default: loopback names on loopback)",
  },
  {
    flag: '--allowed-origins <origins>',
    env: 'ARTIFACTS_SERVER_ALLOWED_ORIGINS',
    help: "comma-separated browser origins allowed to change artifacts ('*' for any; default: none but the server's own)",
  },
  {
    flag: '--max-connections <n>',
    env: 'ARTIFACTS_SERVER_MAX_CONNECTIONS',
    help: 'most client connections at once, 0 = no cap (default 512)',
    parse: integer('--max-connections'),
  },
  {
    flag: '--max-upload-bytes <n>',
    env: 'ARTIFACTS_SERVER_MAX_UPLOAD_BYTES',
    help: 'largest upload accepted (413 beyond; default no limit)',
    parse: integer('--max-upload-bytes'),
  },
  {
    flag: '--max-json-bytes <n>',
    env: 'ARTIFACTS_SERVER_MAX_JSON_BYTES',
    help: 'largest JSON request body (default 1 MiB)',
    parse: integer('--max-json-bytes'),
  },
  {
    flag: '--headers-timeout <seconds>',
    env: 'ARTIFACTS_SERVER_HEADERS_TIMEOUT',
    help: 'time to receive request headers (default 30)',
    parse: integer('--headers-timeout'),
  },
  {
    flag: '--request-timeout <seconds>',
    env: 'ARTIFACTS_SERVER_REQUEST_TIMEOUT',
    help: 'time to receive a whole request, 0 = none (default 3600)',
    parse: integer('--request-timeout'),
  },
  {
    flag: '--idle-timeout <seconds>',
    env: 'ARTIFACTS_SERVER_IDLE_TIMEOUT',
    help: 'close connections idle this long (default 120)',
    parse: integer('--idle-timeout'),
  },
  {
    flag: '--shutdown-timeout <seconds>',
    env: 'ARTIFACTS_SERVER_SHUTDOWN_TIMEOUT',
    help: 'on stop, how long in-flight requests may finish (default 30)',
    parse: integer('--shutdown-timeout'),
  },
  {
    flag: '--mpu-url-expiry <seconds>',
    env: 'ARTIFACTS_SERVER_MPU_URL_EXPIRY',
    help: 'lifetime of presigned multipart part URLs (default 3600)',
    parse: integer('--mpu-url-expiry'),
  },
  {
    flag: '--allow-unauthenticated',
    env: 'ARTIFACTS_SERVER_ALLOW_UNAUTHENTICATED',
    help: 'serve without authentication (refused unless bound to a loopback address)',
    boolean: true,
  },
  {
    flag: '--trust-proxy',
    env: 'ARTIFACTS_SERVER_TRUST_PROXY',
    help: 'log the client address from X-Forwarded-For (behind a reverse proxy)',
    boolean: true,
  },
  {
    flag: '--no-access-log',
    env: 'ARTIFACTS_SERVER_ACCESS_LOG',
    help: 'do not write the JSON access log to stdout',
    boolean: true,
  },
];

function attribute(flag: string): string {
  const long = /--(?:no-)?([a-z0-9-]+)/.exec(flag)![1]!;
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function envBoolean(name: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new InvalidArgumentError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

export const registerServe: RegisterCommand = (program, context) => {
  const command = program
    .command('serve')
    .description(
      "run the artifact proxy (MLflow's mlflow-artifacts REST API) over a destination URI until Ctrl-C or SIGTERM (in-flight transfers finish first; exit status 0); needs @artifacts/server. Each flag defaults to the variable shown.",
    );
  for (const setting of SETTINGS) {
    const option = new Option(setting.flag, `${setting.help} [env: ${setting.env}]`);
    if (setting.parse) option.argParser(setting.parse);
    command.addOption(option);
  }
  command.action(async (opts: Record<string, unknown>) => {
    const ctx = context();
    const server = await importOptional(
      () => import('@artifacts/server'),
      '@artifacts/server',
      'artifacts serve needs @artifacts/server',
    );
    // A flag sets the server's own variable, so that one resolver (the server's) reads every setting,
    // whether it came from the command line or the environment.
    for (const setting of SETTINGS) {
      const value = opts[attribute(setting.flag)];
      if (setting.flag.startsWith('--no-')) {
        if (value === false) process.env[setting.env] = 'false';
        continue;
      }
      if (value === undefined) {
        const fromEnv = process.env[setting.env];
        // Checked here too, so that a bad variable is a usage error naming it, like a bad flag.
        try {
          if (fromEnv !== undefined && setting.parse) setting.parse(fromEnv);
          if (fromEnv !== undefined && setting.boolean) envBoolean(setting.env, fromEnv);
        } catch (error) {
          throw new UsageError(`${setting.env}: ${error instanceof Error ? error.message : String(error)}`);
        }
        continue;
      }
      process.env[setting.env] = setting.boolean ? String(value === true) : String(value);
    }
    // The destination's backend is loaded from here (the server itself depends on none): the local one
    // for the default ./mlartifacts, the one of its scheme otherwise.
    const destination = process.env.ARTIFACTS_SERVER_ARTIFACTS_DESTINATION || server.DEFAULT_DESTINATION;
    await loadBackend(parseArtifactUri(localize(destination)).scheme);
    ctx.ownSignals();
    let started: Awaited<ReturnType<typeof server.startServer>>;
    try {
      started = await server.startServer({ onMessage: (line) => ctx.output.err(line) });
    } catch (error) {
      if (ArtifactsError.is(error) && /ARTIFACTS_SERVER_ALLOW_UNAUTHENTICATED=true/.test(error.message)) {
        throw ArtifactsError.invalidArgument(
          'refusing to serve without authentication: give --users-file or --tokens-file (ARTIFACTS_SERVER_USERS[_FILE], ARTIFACTS_SERVER_TOKENS[_FILE]), or bind a loopback address and pass --allow-unauthenticated',
          { cause: error },
        );
      }
      throw error;
    }
    await started.closed;
  });
};

import { ArtifactsError } from '@artifacts/core';
import type { CommandContext } from './commands.js';

export interface ServeOptions {
  artifactsDestination?: string;
  host?: string;
  port?: string;
  allowUnauthenticated?: boolean;
}

/**
 * `artifacts serve`: the mlflow-artifacts proxy from @artifacts/server, in the foreground until
 * SIGINT/SIGTERM (in-flight transfers finish first). The server package is an optional peer: a
 * CLI that only copies files never loads Fastify.
 */
export async function serve(context: CommandContext, options: ServeOptions): Promise<void> {
  let server: typeof import('@artifacts/server');
  try {
    server = await import('@artifacts/server');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String(error).includes('@artifacts/server')
    ) {
      throw ArtifactsError.unsupported(
        'artifacts serve needs @artifacts/server: npm install @artifacts/server',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  let port: number | undefined;
  if (options.port !== undefined) {
    port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw ArtifactsError.invalidArgument(
        `--port ${JSON.stringify(options.port)} is not a port number (0-65535)`,
      );
    }
  }
  const started = await server.startServer({
    ...(options.artifactsDestination === undefined
      ? {}
      : { artifactsDestination: options.artifactsDestination }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(port === undefined ? {} : { port }),
    ...(options.allowUnauthenticated ? { auth: { allowUnauthenticated: true } } : {}),
    onMessage: (line) => context.output.err(line),
  });
  await started.closed;
}

import { Command, CommanderError } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { type CommandContext, cat, cp, download, log, ls, rm } from './commands.js';
import { registerGc } from './gc.js';
import { type CliIo, Output, secretsOf } from './output.js';
import { type ServeOptions, serve } from './serve.js';

/** Where a run writes and what cancels it. Defaults: the process's stdout/stderr, no signal. */
export interface RunOptions {
  stdout?: CliIo['stdout'];
  stderr?: CliIo['stderr'];
  /** Aborts every transfer in flight (the `artifacts` bin wires it to SIGINT and SIGTERM). */
  signal?: AbortSignal;
}

const EXAMPLES = `
URIs: a local path (./mlartifacts, /abs/path, file:///abs/path) or any scheme with an installed
backend: s3://bucket/prefix, gs://bucket/prefix, wasbs://container@account.blob.core.windows.net/p,
sftp://user@host/path, ftp://user@host/path, hdfs://host:port/path, mlflow-artifacts:/path, ...
A command works on the URI's last path segment inside its parent location, as MLflow's CLI does.

Examples:
  $ artifacts log ./model.pkl ./mlartifacts/1/run1/artifacts/model   # → .../model/model.pkl
  $ artifacts log ./plots s3://bucket/1/run1/artifacts/plots           # the directory's contents
  $ artifacts ls -r --json ./mlartifacts/1/run1/artifacts
  $ artifacts download s3://bucket/1/run1/artifacts/plots ./out        # prints ./out/plots
  $ artifacts cat gs://bucket/1/run1/artifacts/metrics.csv | head
  $ artifacts cp ./mlartifacts/1/run1/artifacts s3://bucket/1/run1/artifacts
  $ artifacts rm sftp://me@host/srv/mlartifacts/1/run1
  $ artifacts serve --artifacts-destination s3://bucket/mlartifacts --port 5000

Environment: ARTIFACTS_MAX_CONCURRENCY (parallel transfers, default 16),
MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT (seconds per file), ARTIFACTS_PLUGINS (extra backend
packages to import), and each backend's own variables (see its README).

Exit status: 0 success, 1 failure, 2 usage error.`;

/**
 * The `artifacts` command as a commander program. Usage errors throw a CommanderError (exit code 2
 * through `run`) instead of exiting the process.
 */
export function createProgram(options: RunOptions = {}): Command {
  return buildProgram(options, process.argv);
}

function buildProgram(options: RunOptions, argv: readonly string[]): Command {
  const io: CliIo = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr };
  const program = new Command('artifacts');
  const secrets = secretsOf(argv);
  const output = new Output(io, secrets);
  const signal = options.signal ?? new AbortController().signal;

  program
    .description('List, log, download, print, remove and copy ML run artifacts in any storage, by URI.')
    .version(pkg.version, '-V, --version', 'print the version')
    .option('-q, --quiet', 'no progress bar (there is none anyway when stderr is not a terminal)')
    .option('--debug', 'print stack traces and error causes')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(output.clean(text)),
      writeErr: (text) => io.stderr.write(output.clean(text)),
      outputError: (text, write) => write(`artifacts: ${text.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', EXAMPLES);

  const context = (): CommandContext => ({
    output,
    quiet: program.opts<{ quiet?: boolean }>().quiet === true,
    signal,
  });

  program
    .command('ls')
    .description('list a directory (direct children; -r for every file below); a file lists itself')
    .argument('<uri>', 'directory or file URI')
    .option('-r, --recursive', 'list every file below, not only direct children')
    .option('-l, --long', 'show sizes in bytes')
    .option('--json', 'print a JSON array of FileInfo {path, isDir, fileSize?}; paths relative to URI')
    .action((uri: string, opts: { recursive?: boolean; json?: boolean; long?: boolean }) =>
      ls(context(), uri, opts),
    );

  program
    .command('log')
    .description(
      "upload a local file to <uri>/<file name>, or a directory's contents under <uri> (MLflow's log_artifact(s))",
    )
    .argument('<local>', 'local file or directory')
    .argument('<uri>', 'destination directory URI')
    .action((local: string, uri: string) => log(context(), local, uri));

  program
    .command('download')
    .description('download a file or directory to <dst>/<last segment of uri> and print that path')
    .argument('<uri>', 'file or directory URI')
    .argument('[dst]', 'local directory, created if missing', '.')
    .action((uri: string, dst: string) => download(context(), uri, dst));

  program
    .command('cat')
    .description('stream a file to stdout')
    .argument('<uri>', 'file URI')
    .action((uri: string) => cat(context(), uri));

  program
    .command('rm')
    .description('remove a file, or a directory and everything below it; removing nothing succeeds')
    .argument('<uri>', 'file or directory URI')
    .action((uri: string) => rm(context(), uri));

  program
    .command('cp')
    .description(
      "copy between any two URIs or local paths, streaming: a file to <dst> (into it when <dst> ends with '/' or is a directory); a directory's contents under <dst>",
    )
    .argument('<src>', 'source file or directory URI')
    .argument('<dst>', 'destination URI')
    .action((src: string, dst: string) => cp(context(), src, dst));

  program
    .command('serve')
    .description(
      "run the artifact proxy (MLflow's mlflow-artifacts REST API) over a destination URI until Ctrl-C; needs @artifacts/server",
    )
    .option('--artifacts-destination <uri>', 'where artifacts are stored (default ./mlartifacts)')
    .option('--host <host>', 'address to bind (default 127.0.0.1)')
    .option('--port <port>', 'port to bind (default 5000; 0 picks a free one)')
    .option(
      '--allow-unauthenticated',
      'serve without HTTP basic/bearer authentication (refused unless bound to a loopback address)',
    )
    .action((opts: ServeOptions) => serve(context(), opts));

  registerGc(program, context);

  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the command name) and resolves to the exit code:
 * 0 success, 1 failure, 2 usage error. Never throws and never calls `process.exit`.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const program = buildProgram(options, argv);
  const io: CliIo = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr };
  const secrets = secretsOf(argv);
  const output = new Output(io, secrets);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; the usage message has already been printed.
      if (error.exitCode === 0) return 0;
      return 2;
    }
    output.error(error, program.opts<{ debug?: boolean }>().debug === true || argv.includes('--debug'));
    return 1;
  }
}

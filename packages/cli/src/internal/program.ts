import { Command, CommanderError } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { COMMANDS } from './commands/index.js';
import type { CommandContext } from './context.js';
import { EXIT, EXIT_HELP, exitCodeOf, Interrupted, SIGNAL_EXIT, UsageError } from './exit-codes.js';
import { type CliIo, Output, secretsOf } from './output.js';
import { reportRetries } from './target.js';

/** Where a run writes and what cancels it. Defaults: the process's stdin/stdout/stderr, no signal. */
export interface RunOptions {
  stdout?: CliIo['stdout'];
  stderr?: CliIo['stderr'];
  stdin?: NodeJS.ReadableStream;
  /**
   * Aborts every transfer in flight (the `artifacts` bin wires it to SIGINT, SIGTERM and SIGHUP).
   * Abort with an `Interrupted` reason to get the signal's exit status (130, 143, 129).
   */
  signal?: AbortSignal;
  /** Called when a command handles SIGINT/SIGTERM itself (`serve`). */
  onOwnSignals?: () => void;
}

const EXAMPLES = `
URIs: a local path (./mlartifacts, /abs/path, file:///abs/path, epoch:3) or any scheme with an
installed backend: s3://bucket/prefix, gs://bucket/prefix, sftp://user@host/path, ftp://user@host/path,
wasbs://container@account.blob.core.windows.net/p, hdfs://host:port/path, mlflow-artifacts:/path, ...
A command works on the URI's last path segment inside its parent location, as MLflow's CLI does.
A quoted glob ('s3://b/run/*.csv') is matched against the store's listing; matching nothing fails.

Examples:
  $ artifacts log ./model.pkl ./mlartifacts/1/run1/artifacts/model   # → .../model/model.pkl
  $ artifacts log ./plots s3://bucket/1/run1/artifacts/plots           # the directory's contents
  $ artifacts ls -r --json ./mlartifacts/1/run1/artifacts
  $ artifacts download s3://bucket/1/run1/artifacts/plots ./out        # prints ./out/plots
  $ artifacts cat gs://bucket/1/run1/artifacts/metrics.csv | head
  $ artifacts cp -r ./mlartifacts/1/run1/artifacts s3://bucket/1/run1/artifacts
  $ artifacts sync --delete --dry-run ./mlartifacts/1 s3://bucket/1
  $ artifacts rm 's3://bucket/1/run1/artifacts/*.tmp'
  $ artifacts serve --artifacts-destination s3://bucket/mlartifacts --port 5000 --users-file users.txt

Environment: ARTIFACTS_MAX_CONCURRENCY (parallel transfers, default 64 on S3/GCS, else 16),
MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT (seconds per file), ARTIFACTS_PLUGINS (extra backend
packages to import), NO_COLOR, and each backend's own variables (see its README).

${EXIT_HELP}`;

/**
 * The `artifacts` command as a commander program. Usage errors throw a CommanderError (exit code 2
 * through `run`) instead of exiting the process.
 */
export function createProgram(options: RunOptions = {}): Command {
  return buildProgram(options, process.argv).program;
}

function buildProgram(options: RunOptions, argv: readonly string[]): { program: Command; output: Output } {
  const io: CliIo = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr };
  const program = new Command('artifacts');
  const output = new Output(io, secretsOf(argv));
  const signal = options.signal ?? new AbortController().signal;

  program
    .description('List, log, download, print, remove, copy and sync ML run artifacts in any storage, by URI.')
    .version(pkg.version, '-V, --version', 'print the version')
    .option('-q, --quiet', 'no progress bar (there is none anyway unless stderr is a terminal)')
    .option(
      '--json',
      'print results as JSON (MLflow field names: path, is_dir, file_size) and errors as JSON on stderr',
    )
    .option('--debug', 'print stack traces and error causes')
    .option(
      '--verbose',
      'print each retry of a storage request (what failed, the attempt, the wait) on stderr',
    )
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeOut: (text) => io.stdout.write(output.clean(text)),
      writeErr: (text) => io.stderr.write(output.clean(text)),
      outputError: (text, write) => {
        const message = text.replace(/^error: /, '').trim();
        if (output.json || argv.includes('--json')) {
          write(`${JSON.stringify({ error: { code: 'usage', message, exit_code: EXIT.usage } })}\n`);
        } else {
          write(`artifacts: ${message}\n`);
        }
      },
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', EXAMPLES)
    .hook('preAction', () => {
      output.json = program.opts<{ json?: boolean }>().json === true;
      reportRetries(
        program.opts<{ verbose?: boolean }>().verbose === true
          ? (line) => io.stderr.write(output.clean(`artifacts: ${line}\n`))
          : undefined,
      );
    });

  const context = (): CommandContext => ({
    output,
    quiet: program.opts<{ quiet?: boolean }>().quiet === true,
    json: program.opts<{ json?: boolean }>().json === true,
    signal,
    stdin: options.stdin ?? process.stdin,
    ownSignals: () => options.onOwnSignals?.(),
  });
  for (const register of COMMANDS) register(program, context);
  // Commands exit on their own errors through `run`, with their usage errors as exit status 2.
  for (const command of program.commands) command.exitOverride().configureHelp({ showGlobalOptions: true });
  return { program, output };
}

/**
 * Runs the CLI on `argv` (the arguments after the command name) and resolves to the exit status
 * (see `EXIT_HELP`). Never throws and never calls `process.exit`.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const { program, output } = buildProgram(options, argv);
  const debug = () => program.opts<{ debug?: boolean }>().debug === true || argv.includes('--debug');
  if (argv.includes('--json')) output.json = true;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return interruptedStatus(options.signal) ?? EXIT.ok;
  } catch (error) {
    const interrupted = interruptedStatus(options.signal);
    if (interrupted !== undefined) {
      // One message for every abort, whatever the backend said while being cancelled.
      output.error(options.signal!.reason, false, interrupted);
      return interrupted;
    }
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; the usage message has already been printed.
      if (error.exitCode === 0) return EXIT.ok;
      if (error.code === 'commander.invalidArgument' && !error.message.startsWith('error:')) {
        output.error(new UsageError(error.message), false, EXIT.usage);
      }
      return EXIT.usage;
    }
    output.error(error, debug());
    return exitCodeOf(error);
  }
}

function interruptedStatus(signal: AbortSignal | undefined): number | undefined {
  if (!signal?.aborted) return undefined;
  const reason = signal.reason as unknown;
  return reason instanceof Interrupted ? SIGNAL_EXIT[reason.signal] : EXIT.failure;
}

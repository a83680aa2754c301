import {
  type ArtifactRepository,
  ArtifactsError,
  type FailedFile,
  redactUri,
  TrackingClient,
  type TrackingRunInfo,
  toArtifactsError,
} from '@artifacts/core';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import { human } from './progress.js';
import { openAt, trackingRetryOptions } from './target.js';

export interface GcOptions {
  dryRun?: boolean;
  olderThan?: string;
  experimentIds?: string;
  runIds?: string;
  trackingUri?: string;
  orphans?: boolean;
  deleteOrphans?: boolean;
  json?: boolean;
}

/** One run (or orphan directory) gc looked at. */
export interface GcEntry {
  runId: string;
  experimentId: string;
  /** Redacted. */
  artifactUri: string;
  files: number;
  bytes: number;
  /**
   * `deleted` (or `would-delete` with --dry-run); `found` for an orphan reported without
   * --delete-orphans; `skipped` (with `reason`); `failed` (with `error`).
   */
  status: 'deleted' | 'would-delete' | 'found' | 'skipped' | 'failed';
  reason?: string;
  error?: string;
}

export interface GcReport {
  dryRun: boolean;
  trackingUri: string;
  runs: GcEntry[];
  orphans: GcEntry[];
  totals: { runs: number; orphans: number; files: number; bytes: number; failed: number; skipped: number };
}

const RUN_ID = /^[0-9a-f]{32}$/;

/** MLflow gc's `--older-than` syntax: `1d2h3m4s`, each part optional, decimals allowed. */
export function parseOlderThan(value: string): number {
  const match = /^(?:([.\d]+)d)?(?:([.\d]+)h)?(?:([.\d]+)m)?(?:([.\d]+)s)?$/.exec(value.trim());
  const parts = match?.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  if (!match || value.trim() === '' || !parts || parts.some((n) => !Number.isFinite(n))) {
    throw ArtifactsError.invalidArgument(
      `--older-than ${JSON.stringify(value)} is not a duration; examples: '8h', '2d8h5m20s', '2m4s'`,
    );
  }
  const [d = 0, h = 0, m = 0, s = 0] = parts;
  return Math.round(((d * 24 + h) * 60 + m) * 60_000 + s * 1000);
}

function ids(value: string | undefined, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  for (const id of list) {
    if (!/^[A-Za-z0-9_.-]+$/.test(id)) {
      throw ArtifactsError.invalidArgument(`--${what} lists ${JSON.stringify(id)}, which is not an id`);
    }
  }
  if (list.length === 0) throw ArtifactsError.invalidArgument(`--${what} is empty`);
  return list;
}

/** `a` equals `b` or lies below it (as URIs: '/'-separated, query ignored). */
function within(a: string, b: string): boolean {
  const strip = (u: string) => u.replace(/\?.*$/s, '').replace(/\/+$/, '');
  const x = strip(a);
  const y = strip(b);
  return x === y || x.startsWith(`${y}/`);
}

async function measure(
  repo: ArtifactRepository,
  signal: AbortSignal,
): Promise<{ files: number; bytes: number }> {
  const listed = await repo.listArtifactsRecursive('', { signal });
  let files = 0;
  let bytes = 0;
  for (const entry of listed) {
    if (entry.isDir) continue;
    files++;
    bytes += entry.fileSize ?? 0;
  }
  return { files, bytes };
}

/**
 * Garbage-collects the artifacts of runs deleted in MLflow (the tracking server's `deleted`
 * lifecycle stage), on whatever backend holds them. Metadata stays: `mlflow gc` removes it later.
 */
export async function gc(context: CommandContext, options: GcOptions): Promise<GcReport> {
  const client = new TrackingClient({
    ...(options.trackingUri ? { trackingUri: options.trackingUri } : {}),
    ...trackingRetryOptions(),
  });
  try {
    return await collectGarbage(context, options, client);
  } finally {
    // Its keep-alive sockets: closed now, not left to the process's exit.
    await client.close();
  }
}

async function collectGarbage(
  context: CommandContext,
  options: GcOptions,
  client: TrackingClient,
): Promise<GcReport> {
  const { signal, output } = context;
  const olderThanMs = options.olderThan === undefined ? undefined : parseOlderThan(options.olderThan);
  const runIds = ids(options.runIds, 'run-ids');
  let experimentIds = ids(options.experimentIds, 'experiment-ids');
  const dryRun = options.dryRun === true;
  const now = Date.now();

  // 1. The deleted runs in scope.
  const candidates: TrackingRunInfo[] = [];
  if (runIds) {
    for (const runId of runIds) {
      const run = await client.getRun(runId, signal);
      if (run.lifecycleStage !== 'deleted') {
        throw new ArtifactsError(
          'failed_precondition',
          `run ${runId} is not in the deleted lifecycle stage; only deleted runs are garbage-collected`,
        );
      }
      if (experimentIds && !experimentIds.includes(run.experimentId)) continue;
      candidates.push(run);
    }
  } else {
    experimentIds ??= await allExperimentIds(client, signal);
    for await (const run of client.searchRuns({ experimentIds, viewType: 'DELETED_ONLY', signal })) {
      candidates.push(run);
    }
  }
  const scopeExperiments = experimentIds ?? [...new Set(candidates.map((r) => r.experimentId))];

  // 2. Every active run's artifact root in those experiments: a deleted run whose artifacts share a
  //    location with an active run's (custom artifact locations can nest) is never touched.
  const activeRoots: { runId: string; uri: string }[] = [];
  for await (const run of client.searchRuns({
    experimentIds: scopeExperiments,
    viewType: 'ACTIVE_ONLY',
    signal,
  })) {
    activeRoots.push({ runId: run.runId, uri: run.artifactUri });
  }

  const report: GcReport = {
    dryRun,
    trackingUri: client.uri,
    runs: [],
    orphans: [],
    totals: { runs: 0, orphans: 0, files: 0, bytes: 0, failed: 0, skipped: 0 },
  };
  const failures: FailedFile[] = [];

  for (const run of candidates) {
    signal.throwIfAborted();
    const entry: GcEntry = {
      runId: run.runId,
      experimentId: run.experimentId,
      artifactUri: redactUri(run.artifactUri),
      files: 0,
      bytes: 0,
      status: dryRun ? 'would-delete' : 'deleted',
    };
    report.runs.push(entry);
    if (olderThanMs !== undefined) {
      // The REST API does not expose MLflow's deleted_time; a run's last activity is the best it offers.
      const when = run.deletedTime ?? run.endTime ?? run.startTime;
      if (when === undefined || when > now - olderThanMs) {
        entry.status = 'skipped';
        entry.reason = `not older than ${options.olderThan}`;
        continue;
      }
    }
    const clash = activeRoots.find((a) => within(a.uri, run.artifactUri) || within(run.artifactUri, a.uri));
    if (clash) {
      entry.status = 'skipped';
      entry.reason = `its artifact location overlaps active run ${clash.runId}'s`;
      continue;
    }
    try {
      // Checked again right before deleting: a run restored since the search is active again.
      if (!dryRun) {
        const fresh = await client.getRun(run.runId, signal);
        if (fresh.lifecycleStage !== 'deleted') {
          entry.status = 'skipped';
          entry.reason = 'restored since the search';
          continue;
        }
      }
      const done = await collect(run.artifactUri, dryRun, signal);
      entry.files = done.files;
      entry.bytes = done.bytes;
    } catch (error) {
      const failure = toArtifactsError(error, `collecting run ${run.runId}'s artifacts`);
      entry.status = 'failed';
      entry.error = failure.message;
      failures.push({ path: run.runId, error: failure });
    }
    if (!dryRun && entry.status === 'deleted') {
      output.err(
        `deleted run ${run.runId}: ${entry.files} files, ${human(entry.bytes)} (${entry.artifactUri})`,
      );
    }
  }

  // 3. Orphans: run directories under an experiment's location whose run the server no longer knows.
  if (options.orphans || options.deleteOrphans) {
    const experiments: { id: string; location: string }[] = [];
    for await (const e of client.searchExperiments({ viewType: 'ALL', signal })) {
      if (experimentIds && !experimentIds.includes(e.experimentId)) continue;
      if (e.artifactLocation) experiments.push({ id: e.experimentId, location: e.artifactLocation });
    }
    const act = options.deleteOrphans === true && !dryRun;
    for (const experiment of experiments) {
      let children: string[];
      try {
        const repo = await openAt(experiment.location);
        try {
          children = (await repo.listArtifacts('', { signal }))
            .filter((f) => f.isDir && RUN_ID.test(f.path))
            .map((f) => f.path);
        } finally {
          await repo.close().catch(() => undefined);
        }
      } catch (error) {
        const failure = toArtifactsError(error, `listing experiment ${experiment.id}'s artifact location`);
        failures.push({ path: experiment.location, error: failure });
        continue;
      }
      for (const runId of children) {
        try {
          await client.getRun(runId, signal);
          continue;
        } catch (error) {
          if (!ArtifactsError.is(error, 'not_found')) throw error;
        }
        const uri = joinUri(experiment.location, runId);
        const entry: GcEntry = {
          runId,
          experimentId: experiment.id,
          artifactUri: redactUri(uri),
          files: 0,
          bytes: 0,
          status: act ? 'deleted' : dryRun && options.deleteOrphans ? 'would-delete' : 'found',
        };
        report.orphans.push(entry);
        try {
          const done = await collect(uri, !act, signal);
          entry.files = done.files;
          entry.bytes = done.bytes;
        } catch (error) {
          const failure = toArtifactsError(error, `collecting orphan ${runId}`);
          entry.status = 'failed';
          entry.error = failure.message;
          failures.push({ path: uri, error: failure });
        }
      }
    }
  }

  for (const entry of [...report.runs, ...report.orphans]) {
    if (entry.status === 'failed') report.totals.failed++;
    if (entry.status === 'skipped') report.totals.skipped++;
    if (entry.status === 'deleted' || entry.status === 'would-delete') {
      if (report.runs.includes(entry)) report.totals.runs++;
      else report.totals.orphans++;
      report.totals.files += entry.files;
      report.totals.bytes += entry.bytes;
    }
  }
  print(context, report, options.json === true);
  if (failures.length > 0) {
    throw new ArtifactsError(
      'partial_failure',
      `gc failed for ${failures.length} item(s): ${failures.map((f) => `${f.path}: ${f.error.message}`).join('; ')}`,
      { failures },
    );
  }
  return report;
}

async function allExperimentIds(client: TrackingClient, signal: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  for await (const e of client.searchExperiments({ viewType: 'ALL', signal })) out.push(e.experimentId);
  return out;
}

function joinUri(base: string, name: string): string {
  const q = base.indexOf('?');
  const head = q === -1 ? base : base.slice(0, q);
  const tail = q === -1 ? '' : base.slice(q);
  return `${head.replace(/\/+$/, '')}/${name}${tail}`;
}

/** Measures (and unless dry) deletes everything under a URI; a location already gone is 0 files. */
async function collect(
  uri: string,
  dryRun: boolean,
  signal: AbortSignal,
): Promise<{ files: number; bytes: number }> {
  const repo = await openAt(uri);
  try {
    const measured = await measure(repo, signal);
    if (!dryRun) await repo.deleteArtifacts('', { signal });
    return measured;
  } finally {
    await repo.close().catch(() => undefined);
  }
}

function print(context: CommandContext, report: GcReport, json: boolean): void {
  const { output } = context;
  if (json) {
    output.out(JSON.stringify(report, null, 2));
    return;
  }
  const verb = report.dryRun ? 'would remove' : 'removed';
  for (const entry of [...report.runs, ...report.orphans]) {
    const kind = report.orphans.includes(entry) ? 'orphan' : 'run';
    if (entry.status === 'found') {
      output.out(
        `orphan ${entry.runId} (experiment ${entry.experimentId}): ${entry.files} files, ${human(entry.bytes)} at ${entry.artifactUri} (--delete-orphans removes it)`,
      );
    } else if (entry.status === 'skipped') {
      output.out(`skipped ${kind} ${entry.runId}: ${entry.reason ?? ''}`);
    } else if (entry.status === 'failed') {
      output.out(`failed ${kind} ${entry.runId}: ${entry.error ?? ''}`);
    } else if (report.dryRun || entry.status === 'would-delete') {
      output.out(
        `${kind} ${entry.runId} (experiment ${entry.experimentId}): ${entry.files} files, ${human(entry.bytes)} at ${entry.artifactUri}`,
      );
    }
  }
  const t = report.totals;
  const found = report.orphans.filter((o) => o.status === 'found').length;
  output.out(
    `gc: ${verb} ${t.files} files, ${human(t.bytes)} (${t.bytes} bytes) of ${t.runs} deleted run(s)${
      t.orphans ? ` and ${t.orphans} orphan(s)` : ''
    }${found ? `; ${found} orphan(s) found (--delete-orphans removes them)` : ''}${
      t.skipped ? `; ${t.skipped} skipped` : ''
    }${t.failed ? `; ${t.failed} failed` : ''}`,
  );
}

/** Adds `artifacts gc` to the program. */
export function registerGc(program: Command, context: () => CommandContext): void {
  program
    .command('gc')
    .description(
      "permanently delete the artifacts of runs deleted in MLflow (found through the tracking server's REST API), on whatever backend holds them; metadata is left for `mlflow gc`",
    )
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--older-than <duration>', "only runs whose last activity is older than this: '8h', '2d8h5m20s'")
    .option('--experiment-ids <ids>', 'comma-separated experiment ids to look in (default: every experiment)')
    .option('--run-ids <ids>', 'comma-separated ids of deleted runs (an active run is an error)')
    .option('--tracking-uri <uri>', 'the MLflow tracking server (default MLFLOW_TRACKING_URI)')
    .option('--orphans', 'also report run directories under experiment locations whose run no longer exists')
    .option('--delete-orphans', 'also delete those orphan run directories')
    .option('--json', 'print the report as JSON')
    .action(async (opts: GcOptions) => {
      const ctx = context();
      // --json is also the program's global option.
      await gc(ctx, { ...opts, json: opts.json === true || ctx.json });
    });
}

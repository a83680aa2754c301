// The proxy backend of the harness: our server (`artifacts serve`) and `mlflow server
// --artifacts-only` over the same local destination, each in its own process group. Every client
// of the proxy runs against each server; the server's CPU and peak RSS during each transfer are
// measured beside the client's (harness.mjs, `watch`).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliBin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

/** Starts both servers over `destination`; each: { id, label, url, root, pid, stop }. */
export async function startProxyServers({ destination, work, log, only }) {
  const { freePort, killProcessGroup, spawnLogged, startMlflowServer, waitForHttp, MLFLOW_VERSION } =
    await import('@artifacts/integration');
  await mkdir(destination, { recursive: true });
  const servers = [];
  const stopAll = async () => {
    for (const s of servers) await s.stop().catch((e) => log(`stopping ${s.id}: ${e.message}`));
  };
  try {
    // `ours` and any variant `ours[NAME=value;…]`: our server started with those environment
    // variables (a setting's env, e.g. `ours[ARTIFACTS_LOCAL_READ_HIGH_WATER_MARK=262144]`), measured
    // beside the plain one in the same interleaved run.
    // `ours@<dir>`: the server as built in another checkout (`<dir>/packages/cli/dist/bin.js`, e.g. a
    // worktree of main after `pnpm build`), for an A/B of the server itself.
    const variants = (only ?? ['ours']).filter((name) => /^ours(@[^[]+)?(\[.*\])?$/.test(name));
    for (const [index, name] of variants.entries()) {
      const checkout = /^ours@([^[]+)/.exec(name)?.[1];
      const extraEnv = Object.fromEntries(
        (/^ours(?:@[^[]+)?\[(.*)\]$/.exec(name)?.[1] ?? '')
          .split(';')
          .filter(Boolean)
          .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      );
      const id = index === 0 && name === 'ours' ? 'ours' : `ours${index}`;
      const port = await freePort();
      const logFile = join(work, 'logs', `${id}-server.log`);
      const proc = spawnLogged(
        process.execPath,
        [
          checkout ? join(checkout, 'packages/cli/dist/bin.js') : cliBin,
          'serve',
          '--artifacts-destination',
          destination,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--allow-unauthenticated',
          '--no-access-log',
        ],
        { logFile, cwd: work, extraEnv },
      );
      const url = `http://127.0.0.1:${port}`;
      const stop = () => killProcessGroup(proc.pid);
      const settings = /\[(.*)\]$/.exec(name)?.[1];
      const label =
        name === 'ours'
          ? 'our server'
          : `our server (${[checkout && `at ${checkout}`, settings].filter(Boolean).join(', ')})`;
      servers.push({ id, label, url, pid: proc.pid, stop });
      await waitForHttp(`${url}/health`, { proc, what: `artifacts serve on ${url}`, timeoutMs: 120_000 });
    }
    if (!only || only.includes('mlflow')) {
      log(`starting mlflow server ${MLFLOW_VERSION} --artifacts-only (importing MLflow takes a while)…`);
      const server = await startMlflowServer({
        destination,
        logFile: join(work, 'logs', 'mlflow-server.log'),
        cwd: work,
      });
      servers.push({
        id: 'mlflow',
        label: `mlflow server ${MLFLOW_VERSION}`,
        url: server.url,
        pid: server.pid,
        stop: () => server.stop(),
      });
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  for (const s of servers) {
    // both name the destination's root the same way: mlflow-artifacts://host:port/<path>
    s.root = `mlflow-artifacts://${new URL(s.url).host}/bench`;
    s.artifactsUrl = `${s.url}/api/2.0/mlflow-artifacts/artifacts/bench`;
  }
  return { servers, stop: stopAll };
}

/**
 * Each proxy client once per server: `ours-lib@mlflow` is our library against MLflow's server. The
 * client sees a context whose root, URLs and tracking URI are that server's; `watch` makes the
 * harness measure the server's process tree during the transfer.
 */
export function proxyClients(clients, servers, ctx) {
  const out = [];
  for (const client of clients) {
    for (const s of servers) {
      const sctx = {
        ...ctx,
        root: s.root,
        artifactsUrl: s.artifactsUrl,
        env: { ...ctx.env, MLFLOW_TRACKING_URI: s.url },
        mlflowUri: (rel) => `${s.root}/${rel}`,
      };
      out.push({
        ...client,
        id: `${client.id}@${s.id}`,
        label: `${client.label} → ${s.label}`,
        command: async (_c, op, p) => {
          const spec = await client.command(sctx, op, { ...p, uri: `${s.root}/${p.rel}` });
          return {
            ...spec,
            env: { ...(spec.env ?? {}), MLFLOW_TRACKING_URI: s.url },
            watch: s.pid,
          };
        },
      });
    }
  }
  return out;
}

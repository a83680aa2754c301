/** Go programs built into the shared cache (`go install`, atomically, under a lock). */
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withLock } from './lock.js';
import { appendLog } from './logs.js';
import { isExecutable } from './paths.js';
import { runLogged } from './processes.js';

/**
 * The flags of every `go install` here: no cgo (a static binary, which the `FROM scratch` images need),
 * no symbol table or DWARF (`-s -w`: a smaller binary and a cheaper link, the longest single step of a
 * large build) and no file-system paths in it (`-trimpath`). None changes what the server does.
 */
export const GO_BUILD_FLAGS = ['-trimpath', '-ldflags=-s -w'];

/** A Go program the cache holds: `go install pkg@version`, its binary at `<installDir>/bin/<binary>`. */
export interface GoBuild {
  pkg: string;
  version: string;
  installDir: string;
  binary: string;
}

/**
 * `go install pkg@version` into `<installDir>/bin` (atomic: built into a temp GOBIN then renamed),
 * under a lock. Returns the path of the binary. No-op when the binary is already cached.
 */
export async function goInstall(opts: GoBuild & { logFile: string; timeoutMs?: number }): Promise<string> {
  const bin = join(opts.installDir, 'bin', opts.binary);
  if (isExecutable(bin)) return bin;
  return withLock(opts.installDir, async () => {
    if (isExecutable(bin)) return bin;
    const tmp = join(opts.installDir, `.tmpbin-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const started = Date.now();
    appendLog(opts.logFile, `installing ${opts.pkg}@${opts.version} into ${opts.installDir} (go install)\n`);
    await runLogged('go', ['install', ...GO_BUILD_FLAGS, `${opts.pkg}@${opts.version}`], {
      logFile: opts.logFile,
      extraEnv: { GOBIN: tmp, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
      timeoutMs: opts.timeoutMs ?? 60 * 60_000,
    });
    await mkdir(join(opts.installDir, 'bin'), { recursive: true });
    await rename(join(tmp, opts.binary), bin);
    await rm(tmp, { recursive: true, force: true });
    appendLog(opts.logFile, `installed ${opts.binary} in ${Math.round((Date.now() - started) / 1000)} s\n`);
    return bin;
  });
}

/**
 * Downloads the modules `go install pkg@version` would build (`go install -n` loads every package,
 * fetching its module, and builds nothing), so a build queued behind another can have its network
 * part done while the other compiles. No-op when the binary is already cached.
 */
export async function goDownload(opts: GoBuild & { logFile: string }): Promise<void> {
  if (isExecutable(join(opts.installDir, 'bin', opts.binary))) return;
  const started = Date.now();
  // -n prints the whole build plan (megabytes): into a file of its own, kept only when it fails
  const plan = `${opts.logFile}.go-plan`;
  await runLogged('go', ['install', '-n', ...GO_BUILD_FLAGS, `${opts.pkg}@${opts.version}`], {
    logFile: plan,
    extraEnv: { CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
    timeoutMs: 30 * 60_000,
  });
  await rm(plan, { force: true });
  appendLog(
    opts.logFile,
    `downloaded the modules of ${opts.pkg}@${opts.version} in ${Math.round((Date.now() - started) / 1000)} s\n`,
  );
}

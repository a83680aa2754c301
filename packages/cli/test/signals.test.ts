import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir, truncate, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bin, cli, tempDir } from './helpers.js';

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): Running {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: [stdin, 'pipe', 'pipe'],
    env: { ...process.env, ARTIFACTS_PLUGINS: '' },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  child.stdout!.resume();
  child.stdin?.on('error', () => undefined);
  // The shell's view: 128+N when the process ended by a signal it re-raised.
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code, signal) => resolve(signal ? 128 + constants.signals[signal] : code)),
  );
  return { child, stderr: () => stderr, exited };
}

/** Every name below `dir`, hidden ones included. */
async function names(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/**
 * Waits for `check` to hold, polling, while `run` is running: a command that ended first fails the
 * test at once with its exit and stderr (it used to leave the test polling until its timeout).
 */
async function waitFor(check: () => Promise<boolean>, what: string, run: Running): Promise<void> {
  let ended: number | null | undefined;
  void run.exited.then((code) => {
    ended = code;
  });
  // Inside the test's own timeout, so that what the command said is reported.
  for (const deadline = Date.now() + 45_000; Date.now() < deadline; ) {
    if (await check()) return;
    if (ended !== undefined)
      throw new Error(`the command exited (${ended}) before ${what}; its stderr: ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}; its stderr so far: ${run.stderr()}`);
}

const MESSAGE =
  /^artifacts: interrupted by SIG[A-Z]+; transfers in flight were cancelled and their partial files removed\n$/;

describe('a signal ends a transfer: partial files removed, 128+N, one message', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s during cp from stdin removes the temporary file and exits %i', async (signal, code) => {
    const store = await tempDir();
    const run = start(['cp', '-', join(store, 'model.bin')], 'pipe');
    run.child.stdin!.write(Buffer.alloc(1024 * 1024));
    await waitFor(
      async () => (await names(store)).some((name) => name.endsWith('.artifacts-tmp')),
      'the temporary file',
      run,
    );
    run.child.kill(signal);
    expect(await run.exited).toBe(code);
    expect(run.stderr()).toMatch(MESSAGE);
    expect(await names(store)).toEqual([]);
  });

  it('the first Ctrl-C does not wait for an uncancellable kernel copy (log of 8 GiB), and removes its file', async () => {
    const source = join(await tempDir(), 'huge.bin');
    await writeFile(source, '');
    await truncate(source, 8 * 1024 ** 3); // sparse: reads fast, writes take a while
    const store = await tempDir();
    const run = start(['log', source, store]);
    await waitFor(async () => (await names(store)).length > 0, 'the temporary file', run);
    const sent = Date.now();
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    // The grace period is 1 s; a copy left to finish would take far longer.
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(run.stderr()).toMatch(MESSAGE);
    expect(await names(store)).toEqual([]);
  });

  it('SIGHUP during a download (kernel copy into a temporary file) leaves no temporary file behind', async () => {
    const store = await tempDir();
    await mkdir(join(store, 'run'));
    await writeFile(join(store, 'run', 'huge.bin'), '');
    await truncate(join(store, 'run', 'huge.bin'), 8 * 1024 ** 3);
    const out = await tempDir();
    const run = start(['download', join(store, 'run'), out]);
    // Core's download temporary name (`.<name>.<pid>-<host>-<random>.artifacts-tmp`; older `.part`).
    const isTemp = (name: string) => name.endsWith('.artifacts-tmp') || name.endsWith('.part');
    await waitFor(async () => (await names(out)).some(isTemp), 'the temporary file', run);
    run.child.kill('SIGHUP');
    expect(await run.exited).toBe(129);
    expect((await names(out)).filter((name) => name.includes('huge'))).toEqual([]);
  });

  it('a second Ctrl-C exits at once, still removing the partial file, and says why', async () => {
    // A kernel copy the run cannot cancel: it has not settled (nor printed anything) when the second
    // signal comes, so the message must come from the second signal's exit.
    const source = join(await tempDir(), 'huge.bin');
    await writeFile(source, '');
    await truncate(source, 8 * 1024 ** 3);
    const store = await tempDir();
    const run = start(['log', source, store]);
    await waitFor(async () => (await names(store)).length > 0, 'the temporary file', run);
    run.child.kill('SIGINT');
    // The first signal has been handled once its partial file is gone; the second then arrives as a
    // signal of its own (sent together, the kernel may merge them into one).
    await waitFor(async () => (await names(store)).length === 0, 'the first signal to be handled', run);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(await names(store)).toEqual([]);
    // One message, even though the process did not wait for its run to settle.
    expect(run.stderr()).toMatch(MESSAGE);
  });
});

describe('what a kill -9 leaves behind', () => {
  it('is never uploaded by log nor listed by ls', async () => {
    const run = join(await tempDir(), 'run');
    await mkdir(join(run, 'sub'), { recursive: true });
    await writeFile(join(run, 'model.bin'), 'weights');
    await writeFile(join(run, '.model.bin.artifacts-4242-k3j4h5.part'), 'half a download');
    await writeFile(join(run, 'sub', '.x.csv.0123456789abcdef.artifacts-tmp'), 'half a write');
    await writeFile(join(run, 'sub', '.hidden-but-real'), 'mine');
    const listed = await cli(['ls', '-r', run]);
    expect(listed.stdout).toBe('model.bin\nsub/\nsub/.hidden-but-real\n');
    const store = await tempDir();
    const logged = await cli(['log', run, store]);
    expect(logged.code).toBe(0);
    expect(await names(store)).toEqual(['model.bin', 'sub', 'sub/.hidden-but-real']);
  });
});

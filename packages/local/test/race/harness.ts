/**
 * The symlink race, as an attacker with write access to the store runs it: one process swaps a
 * directory of the store with a symbolic link to a directory outside it (renameat2
 * RENAME_EXCHANGE, as fast as it can) while workers read, write, list, stat and delete below that
 * directory. Whatever the store is driven through (the library, the HTTP server) only supplies the
 * operations; this module stages the trees, runs the race and reports what got out.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SECRET = 'SECRET-outside-the-store';
export const INSIDE = 'inside the store';
/** Only outside: a listing or stat that shows it has looked outside. */
export const MARKER = 'marker-outside.txt';
const VICTIMS = 8;

export interface RaceStage {
  base: string;
  /** The store's root. */
  root: string;
  outside: string;
  /** Directory of the store that gets swapped (its key is `d`). */
  swapped: string;
  /** The link (inside the store) to `outside` it is swapped with. */
  link: string;
}

export async function makeRaceStage(): Promise<RaceStage> {
  const base = await mkdtemp(join(tmpdir(), 'artifacts-race-'));
  const root = join(base, 'store');
  const outside = join(base, 'outside');
  const swapped = join(root, 'd');
  await mkdir(join(swapped, 'keep'), { recursive: true });
  await writeFile(join(swapped, 'f.txt'), INSIDE);
  await writeFile(join(swapped, 'keep', 'k.txt'), INSIDE);
  await mkdir(join(outside, 'keep'), { recursive: true });
  await writeFile(join(outside, 'f.txt'), SECRET);
  await writeFile(join(outside, 'keep', 'k.txt'), SECRET);
  await writeFile(join(outside, MARKER), SECRET);
  for (let i = 0; i < VICTIMS; i++) {
    await writeFile(join(outside, `v-${i}.txt`), SECRET);
    await mkdir(join(outside, `sub-${i}`));
    await writeFile(join(outside, `sub-${i}`, 'x.txt'), SECRET);
  }
  const link = join(root, 'evil');
  await symlink(outside, link);
  return { base, root, outside, swapped, link };
}

/** Every file and directory below `dir` with its content ('<dir>' for directories). */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).map(String).sort()) {
    const path = join(dir, name);
    out[name] = (await stat(path)).isDirectory() ? '<dir>' : await readFile(path, 'utf8');
  }
  return out;
}

/** Temporary files (`*.artifacts-tmp`) anywhere below `dir`. */
export async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }))
    .map(String)
    .filter((name) => name.endsWith('.artifacts-tmp'));
}

/** Starts the attacker: swaps `a` and `b` for `seconds`; resolves with the number of swaps. */
export function startSwapper(a: string, b: string, seconds: number): Promise<number> {
  const script = fileURLToPath(new URL('./exchange.py', import.meta.url));
  const child = spawn('python3', [script, a, b, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Number(out.trim()));
      else reject(new Error(`swapper exited with ${code}: ${err}`));
    });
  });
}

/** How the race drives the store. Each returns what the store answered; a refusal may throw. */
export interface RaceOps {
  read(key: string): Promise<string>;
  write(key: string, body: string): Promise<void>;
  /** A write from a local file (the kernel-copy path), where the driver has one. */
  writeFile?(key: string, localPath: string): Promise<void>;
  /** A download to a local file, where the driver has one. */
  download?(key: string, localPath: string): Promise<string>;
  delete(key: string): Promise<void>;
  /** Names (basenames) of the direct children of `key`. */
  list(key: string): Promise<string[]>;
  /** Whether `key` exists as a file. */
  exists(key: string): Promise<boolean>;
}

export interface RaceResult {
  swaps: number;
  /** Operations the store carried out (refusals excluded). */
  succeeded: number;
  refused: number;
  /** What got out: reads that returned outside content, listings or stats that saw outside names. */
  leaks: string[];
  /** Outside, before and after. */
  outsideBefore: Record<string, string>;
  outsideAfter: Record<string, string>;
  tempFiles: string[];
}

/** Runs the race for `seconds` with `workers` concurrent loops of operations through `ops`. */
export async function runRace(
  stage: RaceStage,
  ops: RaceOps,
  options: { seconds: number; workers: number },
): Promise<RaceResult> {
  const outsideBefore = await snapshot(stage.outside);
  const local = join(stage.base, 'local-source.txt');
  await writeFile(local, INSIDE);
  const downloads = join(stage.base, 'downloads');
  await mkdir(downloads);
  const leaks: string[] = [];
  let succeeded = 0;
  let refused = 0;
  const attempt = async (what: string, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
      succeeded++;
    } catch (error) {
      if ((error as Error).message.startsWith('LEAK')) leaks.push(`${what}: ${(error as Error).message}`);
      else refused++;
    }
  };
  const checkContent = (content: string): void => {
    if (content !== INSIDE) throw new Error(`LEAK read ${JSON.stringify(content.slice(0, 40))}`);
  };
  const swapper = startSwapper(stage.swapped, stage.link, options.seconds);
  const deadline = Date.now() + options.seconds * 1000;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; Date.now() < deadline; i++) {
      const v = (w * 1000 + i) % VICTIMS;
      await attempt('read', async () => checkContent(await ops.read('d/f.txt')));
      await attempt('read deeper', async () => checkContent(await ops.read('d/keep/k.txt')));
      await attempt('write', () => ops.write(`d/w-${w}-${i % 50}.txt`, INSIDE));
      await attempt('write victim', () => ops.write(`d/v-${v}.txt`, INSIDE));
      await attempt('delete victim', () => ops.delete(`d/v-${v}.txt`));
      await attempt('write subtree', () => ops.write(`d/sub-${v}/x.txt`, INSIDE));
      await attempt('delete subtree', () => ops.delete(`d/sub-${v}`));
      await attempt('list', async () => {
        const names = await ops.list('d');
        if (names.includes(MARKER)) throw new Error('LEAK listing shows an outside name');
      });
      await attempt('stat', async () => {
        if (await ops.exists(`d/${MARKER}`)) throw new Error('LEAK stat sees an outside file');
      });
      if (ops.writeFile) {
        const writeFrom = ops.writeFile;
        await attempt('write from file', () => writeFrom(`d/c-${w}-${i % 20}.txt`, local));
      }
      if (ops.download) {
        const download = ops.download;
        await attempt('download', async () =>
          checkContent(await download('d/f.txt', join(downloads, `${w}-${i % 20}.txt`))),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)));
  const swaps = await swapper;
  const outsideAfter = await snapshot(stage.outside);
  const tempFiles = [...(await leftovers(stage.root)), ...(await leftovers(stage.outside))];
  return { swaps, succeeded, refused, leaks, outsideBefore, outsideAfter, tempFiles };
}

export async function removeStage(stage: RaceStage): Promise<void> {
  await rm(stage.base, { recursive: true, force: true });
}

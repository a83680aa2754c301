import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bin, cli, tempDir } from './helpers.js';

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

/** A store with a run directory: three CSV files, a JSON file and a nested plot. */
async function store(): Promise<string> {
  const root = await tempDir();
  const run = join(root, 'run');
  await mkdir(join(run, 'plots'), { recursive: true });
  for (const name of ['a.csv', 'b.csv', 'c.csv']) await writeFile(join(run, name), `${name}\n`);
  await writeFile(join(run, 'params.json'), '{}\n');
  await writeFile(join(run, 'plots', 'loss.svg'), '<svg/>\n');
  return root;
}

function shell(script: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath, BIN: bin, ARTIFACTS_PLUGINS: '' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('a closed or full standard output', () => {
  it('ls -r | head -1 ends quietly with success (EPIPE)', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'many'));
    // More names than a pipe holds (64 KiB), so that the writer meets the closed pipe.
    const names = Array.from({ length: 2500 }, (_, i) => `file-with-a-long-name-${i}.bin`);
    await Promise.all(names.map((name) => writeFile(join(root, 'many', name), '')));
    const result = shell(
      `set -o pipefail; "$NODE" "$BIN" ls -r '${join(root, 'many')}' | head -1; echo "status=\${PIPESTATUS[0]}"`,
    );
    expect(result.stdout).toMatch(/^file-with-a-long-name-\d+\.bin\nstatus=0\n$/);
    expect(result.stderr).toBe('');
  });

  it('> /dev/full is one clear error and a failure status, no stack (ENOSPC)', async () => {
    const root = await store();
    const result = shell(`"$NODE" "$BIN" ls -r '${root}' > /dev/full`);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('artifacts: cannot write to standard output: no space left on device\n');
  });
});

describe('exit status tells failures apart', () => {
  it('documents every status in --help', async () => {
    const help = await cli(['--help']);
    for (const line of [
      '0  success',
      '2  usage error',
      '3  not found',
      '4  permission denied',
      '5  storage unreachable',
      '6  integrity',
      '7  partial failure',
      '129/130/143',
    ]) {
      expect(help.stdout).toContain(line);
    }
  });

  it('2 for a bad option value, 3 for not found, 5 for an unreachable store', async () => {
    expect((await cli(['serve', '--port', 'abc'])).code).toBe(2);
    expect((await cli(['presign', '--expires-in', '-5', 'x'])).code).toBe(2);
    const root = await tempDir();
    expect((await cli(['cat', join(root, 'missing')])).code).toBe(3);
    expect((await cli(['ls', 'sftp://u@127.0.0.1:1/x'], { timeoutMs: 30_000 })).code).toBe(5);
  });

  it('--json makes errors JSON too, with the status in them', async () => {
    const root = await tempDir();
    const result = await cli(['--json', 'ls', join(root, 'nope')]);
    expect(result.code).toBe(3);
    expect(JSON.parse(result.stderr)).toEqual({
      error: { code: 'not_found', message: `${join(root, 'nope')} does not exist`, exit_code: 3 },
    });
    const usage = await cli(['ls', '--json', '--frobnicate', 'x']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr).error).toMatchObject({ code: 'usage', exit_code: 2 });
  });
});

describe('rclone and aws-cli habits', () => {
  it('a quoted glob is matched against the listing: rm deletes the matches, ls lists them', async () => {
    const root = await store();
    const listed = await cli(['ls', join(root, 'run', '*.csv')]);
    expect(listed).toMatchObject({ code: 0, stdout: 'a.csv\nb.csv\nc.csv\n' });
    const removed = await cli(['rm', join(root, 'run', '*.csv')]);
    expect(removed.code).toBe(0);
    expect(await tree(join(root, 'run'))).toEqual(['params.json', 'plots/loss.svg']);
  });

  it('a glob that matches nothing is an error, never a silent success', async () => {
    const root = await store();
    const result = await cli(['rm', join(root, 'run', '*.parquet')]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`artifacts: nothing matches "*.parquet" in ${join(root, 'run')}\n`);
    expect(await tree(join(root, 'run'))).toHaveLength(5);
  });

  it('-r is accepted on cp, rm and download; several sources go into the destination', async () => {
    const root = await store();
    const out = await tempDir();
    const copied = await cli(['cp', '-r', join(root, 'run', 'a.csv'), join(root, 'run', 'plots'), `${out}/`]);
    expect(copied.code).toBe(0);
    expect(await tree(out)).toEqual(['a.csv', 'plots/loss.svg']);
    const down = await tempDir();
    expect(
      (await cli(['download', '-r', join(root, 'run', 'plots'), join(root, 'run', 'b.csv'), down])).code,
    ).toBe(0);
    expect(await tree(down)).toEqual(['b.csv', 'plots/loss.svg']);
    expect((await cli(['rm', '-r', join(out, 'plots')])).code).toBe(0);
    expect(await tree(out)).toEqual(['a.csv']);
  });

  it('--include/--exclude select files, and --dry-run changes nothing', async () => {
    const root = await store();
    const out = await tempDir();
    const dry = await cli([
      'cp',
      '--dry-run',
      '--include',
      '*.csv',
      '--exclude',
      'b.csv',
      join(root, 'run'),
      out,
    ]);
    expect(dry).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('would copy a.csv\nwould copy c.csv\n'),
    });
    expect(await tree(out)).toEqual([]);
    expect((await cli(['cp', '--include', '*.csv', '--exclude', 'b.csv', join(root, 'run'), out])).code).toBe(
      0,
    );
    expect(await tree(out)).toEqual(['a.csv', 'c.csv']);
    const rmDry = await cli(['rm', '--dry-run', join(root, 'run')]);
    expect(rmDry.stdout).toBe(`would remove ${join(root, 'run')}\n`);
    expect(await tree(join(root, 'run'))).toHaveLength(5);
  });

  it("'-' is stdin for cp and stdout for cp", async () => {
    const root = await store();
    const piped = shell(
      `printf 'from stdin' | "$NODE" "$BIN" cp - '${join(root, 'in.txt')}' && "$NODE" "$BIN" cp '${join(root, 'in.txt')}' -`,
    );
    expect(piped.status).toBe(0);
    expect(piped.stdout).toMatch(/^copied 1 file \(10 B\) to .*in\.txt\nfrom stdin$/);
    expect(await readdir(root)).not.toContain('-');
  });

  it('a local name with a colon is a local path unless it names a known scheme', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'epoch:3'), 'checkpoint');
    const result = await cli(['cat', 'epoch:3'], { cwd: root });
    expect(result).toMatchObject({ code: 0, stdout: 'checkpoint' });
    const out = await tempDir();
    expect((await cli(['cp', 'epoch:3', join(out, 'copy')], { cwd: root })).code).toBe(0);
    expect(await readFile(join(out, 'copy'), 'utf8')).toBe('checkpoint');
  });
});

describe('sync and check', () => {
  it('copies only what is missing or changed, --delete removes extras, --dry-run shows it', async () => {
    const root = await store();
    const dst = join(await tempDir(), 'mirror');
    const first = await cli(['--json', 'sync', join(root, 'run'), dst]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      copied: ['a.csv', 'b.csv', 'c.csv', 'params.json', 'plots/loss.svg'],
      skipped: 0,
    });
    const again = await cli(['--json', 'sync', join(root, 'run'), dst]);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: [], skipped: 5 });

    // A changed size, a newer file of the same size, and an extra file in the destination.
    await writeFile(join(root, 'run', 'a.csv'), 'longer content\n');
    const later = new Date(Date.now() + 60_000);
    await writeFile(join(root, 'run', 'b.csv'), 'B.csv\n');
    await utimes(join(root, 'run', 'b.csv'), later, later);
    await writeFile(join(dst, 'extra.txt'), 'x');
    const dry = await cli(['sync', '--dry-run', '--delete', join(root, 'run'), dst]);
    expect(dry.stdout).toBe(
      'would copy a.csv\nwould copy b.csv\nwould delete extra.txt\nwould copy 2 files (21 B), skip 3, delete 1\n',
    );
    expect(await readFile(join(dst, 'b.csv'), 'utf8')).toBe('b.csv\n');
    const synced = await cli(['sync', '--delete', join(root, 'run'), dst]);
    expect(synced.code).toBe(0);
    expect(await tree(dst)).toEqual(await tree(join(root, 'run')));
    expect(await readFile(join(dst, 'b.csv'), 'utf8')).toBe('B.csv\n');
  });

  it('--checksum finds a same-size change that times would miss; check reports differences', async () => {
    const root = await store();
    const dst = join(await tempDir(), 'mirror');
    expect((await cli(['sync', join(root, 'run'), dst])).code).toBe(0);
    await writeFile(join(dst, 'c.csv'), 'C.csv\n'); // same size, newer than the source
    expect((await cli(['check', join(root, 'run'), dst])).code).toBe(0);
    const check = await cli(['check', '--checksum', join(root, 'run'), dst]);
    expect(check).toMatchObject({ code: 1, stdout: 'differs: c.csv\n4 matching files, 1 difference\n' });
    const plain = await cli(['--json', 'sync', join(root, 'run'), dst]);
    expect(JSON.parse(plain.stdout).copied).toEqual([]);
    const summed = await cli(['--json', 'sync', '--checksum', join(root, 'run'), dst]);
    expect(JSON.parse(summed.stdout).copied).toEqual(['c.csv']);
    expect(await readFile(join(dst, 'c.csv'), 'utf8')).toBe('c.csv\n');
  });
});

describe('stat, du, presign and --json field names', () => {
  it('stat and du show sizes in IEC units, and MLflow field names under --json', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'run'));
    await writeFile(join(root, 'run', 'big.bin'), Buffer.alloc(500_000));
    await writeFile(join(root, 'run', 'small.bin'), Buffer.alloc(1000));
    const stat = await cli(['stat', join(root, 'run', 'big.bin')]);
    expect(stat.stdout).toContain('size:          500000 bytes (488.3 KiB)');
    const statJson = JSON.parse((await cli(['--json', 'stat', join(root, 'run', 'big.bin')])).stdout);
    expect(statJson).toMatchObject({ is_dir: false, file_size: 500000 });
    const du = await cli(['du', join(root, 'run')]);
    expect(du.stdout).toBe(`489.3 KiB (501000 bytes) in 2 files  ${join(root, 'run')}\n`);
    const ls = JSON.parse((await cli(['ls', '--json', join(root, 'run')])).stdout);
    expect(ls[0]).toEqual({ path: 'big.bin', is_dir: false, file_size: 500000 });
  });

  it('presign refuses a store that cannot sign, with one clear line', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'f.txt'), 'x');
    const result = await cli(['presign', join(root, 'f.txt')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^artifacts: .* cannot presign URLs\n$/);
  });
});

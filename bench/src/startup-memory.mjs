// What a process of ours holds before its first transfer: RSS and its parts after each step of
// start-up (bare Node, `import('@artifacts/core')`, the backend's package, `openRepository`, then
// `node:http` as an HTTP store's first request loads it), each run in a fresh process, medians over
// --runs. Only adds to the harness; nothing else uses it.
//   pnpm exec node bench/src/startup-memory.mjs [--runs 5] [--node-flags '--max-semi-space-size=2'] URI...
// e.g. s3://bucket/x gs://bucket/x wasbs://c@account.blob.core.windows.net/x http://127.0.0.1:1/x
// Nothing is sent: `openRepository` builds a repository, it does not connect.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const MiB = 1024 * 1024;

/** One process's figures, printed as JSON: called with `--step` by the parent. */
async function measureOnce(uri) {
  const proc = () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      rssAnon: kib('RssAnon'),
      rssFile: kib('RssFile'),
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
  };
  const steps = { node: proc() };
  const { openRepository } = await import('@artifacts/core');
  steps.core = proc();
  if (uri) {
    await (await import('./backend-packages.mjs')).loadBackendFor(uri);
    steps.plugin = proc();
    const repo = await openRepository(uri);
    steps.open = proc();
    await repo.close();
    // What an HTTP store's first request adds (core's pool loads node:http on first use).
    if (!uri.startsWith('file:')) {
      await import('node:http');
      steps['+ node:http'] = proc();
    }
  }
  process.stdout.write(JSON.stringify(steps));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (process.argv[2] === '--step') {
  await measureOnce(process.argv[3]);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { runs: { type: 'string', default: '5' }, 'node-flags': { type: 'string', default: '' } },
  });
  const flags = values['node-flags'].split(' ').filter(Boolean);
  const env = {
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'us-east-1',
    AZURE_STORAGE_ACCESS_KEY: Buffer.from('x').toString('base64'),
    ...process.env,
  };
  const self = fileURLToPath(import.meta.url);
  const bare = [];
  for (let i = 0; i < Number(values.runs); i++) {
    bare.push(Number(execFileSync(process.execPath, [...flags, '-p', 'process.memoryUsage().rss'], { env })));
  }
  console.log(
    `Node ${process.version} ${flags.join(' ')}: bare \`node -p\` RSS ${(median(bare) / MiB).toFixed(1)} MiB`,
  );
  console.log('| URI | step | RSS | RssAnon | RssFile | heap used | heap total | external | ArrayBuffers |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const uri of positionals.length ? positionals : ['']) {
    const runs = [];
    for (let i = 0; i < Number(values.runs); i++) {
      runs.push(
        JSON.parse(
          execFileSync(process.execPath, [...flags, self, '--step', uri], { env, encoding: 'utf8' }),
        ),
      );
    }
    for (const step of Object.keys(runs[0])) {
      const cells = Object.keys(runs[0][step]).map((k) =>
        (median(runs.map((r) => r[step][k])) / MiB).toFixed(1),
      );
      console.log(`| ${uri || '(none)'} | ${step} | ${cells.join(' | ')} |`);
    }
  }
}

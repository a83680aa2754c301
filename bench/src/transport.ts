/**
 * Scratch measurement for issue 11 (engineer "undici"): core's node:http transport against undici
 * (npm `undici`), on the project's MinIO, requests signed by the S3 driver's own SigV4. The result
 * is in docs/benchmarks.md ("The HTTP transport: undici measured, not adopted").
 *
 *   tsx bench/src/transport.ts <case> <transport>      (bench/src/transport-run.sh interleaves runs)
 *     case: put-big (makes the 1 GiB object) | big-down | small-up | small-down (1,000 objects of 1–16 KiB)
 *     transport:
 *       node         core's HttpPool as built in BASE_CORE (a dist/index.js; default this checkout's)
 *       core         core's HttpPool as built in NEW_CORE (default this checkout's)
 *       pool         undici `Pool.request` (its body a stream)
 *       dispatch     undici `dispatch`, a handler writing each chunk straight to the file
 *       engine-base  big-down through core's own engine (`rangedReadToFile`) and HttpPool of BASE_CORE
 *       engine-new   the same with NEW_CORE (undici's: build core at commit af972b9 and point NEW_CORE
 *                    at its dist/index.js)
 *       onread       big-down only (engineer "s3big"): no HTTP client; one `net` socket per worker
 *                    reading into 256 KiB buffers of a free list (`onread`), a minimal response-head
 *                    reader, and each read's body bytes written at their offset straight from the
 *                    read's buffer (two copies of each byte, no parser, no per-64 KiB JavaScript)
 *     big-down: 8 MiB ranged GETs, 4 in flight, written at their offsets (256 KiB writev, as core does).
 *
 * Prints one JSON line: CPU seconds (process.cpuUsage over the case only: every thread, modules
 * loaded before the clock starts), wall, peak RSS (whole process, tsx included).
 * Environment from integration/.servers.env.
 */
import { writev } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { SigV4 } from '../../packages/core/src/sigv4.ts';

const [kind, transport] = process.argv.slice(2);
// `node`: core's HttpPool as built in BASE_CORE (a dist/index.js; default this checkout's).
const { HttpPool, parseContentRange } = (await import(
  process.env.BASE_CORE ?? '../../packages/core/dist/index.js'
)) as typeof import('../../packages/core/src/index.ts');
const endpoint = new URL(process.env.MLFLOW_S3_ENDPOINT_URL ?? '');
const bucket = process.env.ARTIFACTS_IT_S3_BUCKET ?? 'artifacts-it';
const credentials = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
};
const signer = new SigV4('us-east-1');
const BIG_KEY = 'transport-bench/big.bin';
const BIG = Number(process.env.BIG_MIB ?? 1024) * 1024 * 1024;
const PART = 8 * 1024 * 1024;
const CONCURRENCY = 4;
const FILES = Number(process.env.FILES ?? 1000);
const SMALL_CONCURRENCY = Number(process.env.SMALL_CONCURRENCY ?? 16);
const WRITE_SIZE = 256 * 1024;
const OUT = process.env.OUT ?? '/tmp/undici-transport.bin';

function signed(method: string, key: string, extra: Record<string, string> = {}) {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const headers = signer.sign(
    {
      method,
      path,
      query: [],
      headers: { host: endpoint.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extra },
    },
    credentials,
  );
  return { url: `${endpoint.origin}${path}`, path, headers };
}

/** Chunks of one range gathered into positional writev calls of WRITE_SIZE, at most 8 in flight. */
class FileSink {
  writing = 0;
  waiters: Array<() => void> = [];
  constructor(readonly fd: number) {}
  write(chunks: Buffer[], position: number, done: () => void) {
    this.writing++;
    writev(this.fd, chunks, position, (error) => {
      if (error) throw error;
      this.writing--;
      for (const w of this.waiters.splice(0)) w();
      done();
    });
  }
  /** A range's gatherer: push returns false when the caller must pause until `resume` is called. */
  range(start: number) {
    let offset = start;
    let chunks: Buffer[] = [];
    let bytes = 0;
    const flush = () => {
      if (bytes === 0) return;
      const c = chunks;
      const at = offset;
      offset += bytes;
      chunks = [];
      bytes = 0;
      this.write(c, at, () => undefined);
    };
    return {
      push: (chunk: Buffer, resume: () => void): boolean => {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes < WRITE_SIZE) return true;
        flush();
        if (this.writing < 2 * CONCURRENCY) return true;
        this.waiters.push(resume);
        return false;
      },
      end: flush,
    };
  }
  settled(): Promise<void> {
    return this.writing === 0
      ? Promise.resolve()
      : new Promise<void>((r) => this.waiters.push(r)).then(() => this.settled());
  }
}

const node = new HttpPool({ connections: Math.max(CONCURRENCY, SMALL_CONCURRENCY) });
const pool = new Pool(endpoint.origin, { connections: Math.max(CONCURRENCY, SMALL_CONCURRENCY) });

async function getRange(sink: FileSink, start: number, end: number): Promise<void> {
  const { url, headers } = signed('GET', BIG_KEY);
  headers.range = `bytes=${start}-${end}`;
  const gather = sink.range(start);
  if (transport === 'dispatch') {
    await new Promise<void>((resolve, reject) => {
      pool.dispatch(
        { origin: endpoint.origin, path: new URL(url).pathname, method: 'GET', headers },
        {
          onRequestStart() {},
          onResponseStart(_c, status) {
            if (status !== 206) reject(new Error(`status ${status}`));
          },
          onResponseData(controller, chunk) {
            if (!gather.push(chunk, () => controller.resume())) controller.pause();
          },
          onResponseEnd() {
            gather.end();
            resolve();
          },
          onResponseError(_c, error) {
            reject(error);
          },
        },
      );
    });
    return;
  }
  const body: Readable =
    transport === 'node'
      ? (await node.request({ method: 'GET', url, headers })).body
      : ((
          await pool.request({ origin: endpoint.origin, path: new URL(url).pathname, method: 'GET', headers })
        ).body as unknown as Readable);
  await new Promise<void>((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      if (!gather.push(chunk, () => body.resume())) body.pause();
    });
    body.on('end', () => {
      gather.end();
      resolve();
    });
    body.on('error', reject);
  });
}

/**
 * `engine-base` / `engine-new`: core's own download engine (`rangedReadToFile`, 8 MiB parts, 4 in
 * flight) over core's HttpPool, both as built in BASE_CORE (before) or in this checkout's dist (after).
 */
async function engineDown() {
  const core = (
    transport === 'engine-base'
      ? await import(process.env.BASE_CORE ?? '../../packages/core/dist/index.js')
      : await import(process.env.NEW_CORE ?? '../../packages/core/dist/index.js')
  ) as typeof import('../../packages/core/src/index.ts');
  const http = new core.HttpPool({ connections: CONCURRENCY });
  const result = await core.rangedReadToFile(
    {
      async readRange(request) {
        const { url, headers } = signed('GET', BIG_KEY);
        headers.range = `bytes=${request.start}-${request.end}`;
        const answer = await http.request({ method: 'GET', url, headers, signal: request.signal });
        if (answer.statusCode !== 206) throw new Error(`status ${answer.statusCode}`);
        const served = parseContentRange(String(answer.headers['content-range']));
        return {
          stream: answer.body,
          served: { start: served?.start ?? 0, end: served?.end ?? -1 },
          totalSize: served?.total ?? 0,
          pin: String(answer.headers.etag),
          rangesHonoured: true,
        };
      },
    },
    OUT,
    { partSize: PART, concurrency: CONCURRENCY, what: 'big', timeoutMs: 60_000 },
  );
  http.destroy();
  if (result.size !== BIG) throw new Error(`wrote ${result.size}`);
}

async function bigDown() {
  if (transport?.startsWith('engine-')) return engineDown();
  if (transport === 'onread') return onreadDown();
  const handle = await open(OUT, 'w');
  const sink = new FileSink(handle.fd);
  let next = 0;
  const worker = async () => {
    while (next < BIG) {
      const start = next;
      next += PART;
      await getRange(sink, start, Math.min(BIG, start + PART) - 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await sink.settled();
  const size = (await handle.stat()).size;
  await handle.close();
  if (size !== BIG) throw new Error(`wrote ${size}`);
}

/** `onread`: the lower bound of a reader of our own (see the header); plain HTTP, keep-alive. */
async function onreadDown() {
  const net = await import('node:net');
  const handle = await open(OUT, 'w');
  const READ = 256 * 1024;
  const free: Buffer[] = [];
  let writing = 0;
  const waiters: Array<() => void> = [];
  /** Sockets whose reads stopped while the writes were all in flight. */
  const stopped: import('node:net').Socket[] = [];
  const settled = (): Promise<void> =>
    writing === 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r)).then(settled);
  let next = 0;
  const worker = () =>
    new Promise<void>((resolve, reject) => {
      let head = '';
      let remaining = -1;
      let position = 0;
      const ask = () => {
        if (next >= BIG) {
          socket.end();
          resolve();
          return;
        }
        const start = next;
        next += PART;
        const end = Math.min(BIG, start + PART) - 1;
        const { path, headers } = signed('GET', BIG_KEY);
        headers.range = `bytes=${start}-${end}`;
        let text = `GET ${path} HTTP/1.1\r\n`;
        for (const name in headers) text += `${name}: ${headers[name]}\r\n`;
        socket.write(`${text}\r\n`);
        head = '';
        remaining = -1;
        position = start;
      };
      const body = (buf: Buffer, from: number, to: number) => {
        const n = Math.min(to - from, remaining);
        if (n <= 0) return;
        remaining -= n;
        writing++;
        const at = position;
        position += n;
        // The buffer is the file write's until it is done: the socket reads into the next one.
        writev(handle.fd, [buf.subarray(from, from + n)], at, (error) => {
          if (error) reject(error);
          writing--;
          free.push(buf);
          for (const w of waiters.splice(0)) w();
          if (writing < 2 * CONCURRENCY) for (const paused of stopped.splice(0)) paused.resume();
        });
        if (remaining === 0) ask();
      };
      const socket = net.connect({
        host: endpoint.hostname,
        port: Number(endpoint.port),
        onread: {
          buffer: () => free.pop() ?? Buffer.allocUnsafeSlow(READ),
          callback: (bytes: number, buf: Uint8Array) => {
            const read = buf as Buffer;
            if (remaining >= 0) body(read, 0, bytes);
            else {
              // The head, and what follows it in the same read.
              const before = head.length;
              head += read.latin1Slice(0, bytes);
              const at = head.indexOf('\r\n\r\n');
              if (at < 0) return true;
              const status = Number(head.slice(9, 12));
              const length = /\r\ncontent-length: *(\d+)/i.exec(head.slice(0, at));
              if (status !== 206 || !length) {
                reject(new Error(`status ${status}`));
                return false;
              }
              remaining = Number(length[1]);
              body(read, at + 4 - before, bytes);
            }
            if (writing >= 2 * CONCURRENCY) {
              socket.pause();
              stopped.push(socket);
              return false;
            }
            return true;
          },
        },
      });
      socket.on('error', reject);
      socket.on('connect', ask);
    });
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await settled();
  const size = (await handle.stat()).size;
  await handle.close();
  if (size !== BIG) throw new Error(`wrote ${size}`);
}

async function putBig() {
  const { url, headers } = signed('PUT', BIG_KEY, { 'content-length': String(BIG) });
  const body = Readable.from(
    (function* () {
      const block = Buffer.alloc(1024 * 1024, 7);
      for (let i = 0; i < BIG / block.length; i++) {
        block[0] = i & 255;
        yield Buffer.from(block);
      }
    })(),
  );
  const answer = await node.request({ method: 'PUT', url, headers, body });
  if (answer.statusCode !== 200) throw new Error(`PUT ${answer.statusCode}`);
  answer.body.resume();
}

const smallBody = (i: number) => Buffer.alloc(1024 + ((i * 7919) % (15 * 1024)), i & 255);

/** `core`: core's HttpPool as built in this checkout's dist (over undici). */
let corePool: InstanceType<typeof HttpPool> | undefined;
async function coreHttp() {
  corePool ??= new (
    (await import(
      process.env.NEW_CORE ?? '../../packages/core/dist/index.js'
    )) as typeof import('../../packages/core/src/index.ts')
  ).HttpPool({ connections: SMALL_CONCURRENCY });
  return corePool;
}

async function small(up: boolean) {
  let next = 0;
  let bytes = 0;
  const one = async (i: number) => {
    const key = `transport-bench/small/${i}.bin`;
    const body = up ? smallBody(i) : undefined;
    const { url, path, headers } = signed(
      up ? 'PUT' : 'GET',
      key,
      up ? { 'content-length': String(body!.length) } : {},
    );
    const method = up ? 'PUT' : 'GET';
    if (transport === 'node' || transport === 'core') {
      const answer = await (transport === 'core' ? await coreHttp() : node).request({
        method,
        url,
        headers,
        body,
      });
      if (answer.statusCode !== 200) throw new Error(`${method} ${answer.statusCode}`);
      for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
    } else if (transport === 'pool') {
      const answer = await pool.request({ origin: endpoint.origin, path, method, headers, body });
      if (answer.statusCode !== 200) throw new Error(`${method} ${answer.statusCode}`);
      for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
    } else {
      await new Promise<void>((resolve, reject) => {
        let status = 0;
        pool.dispatch(
          { origin: endpoint.origin, path, method, headers, body },
          {
            onRequestStart() {},
            onResponseStart(_c, s) {
              status = s;
            },
            onResponseData(_c, chunk) {
              bytes += chunk.length;
            },
            onResponseEnd() {
              if (status !== 200) reject(new Error(`${method} ${status}`));
              else resolve();
            },
            onResponseError(_c, error) {
              reject(error);
            },
          },
        );
      });
    }
  };
  const worker = async () => {
    while (next < FILES) await one(next++);
  };
  await Promise.all(Array.from({ length: SMALL_CONCURRENCY }, worker));
  if (!up && bytes === 0) throw new Error('nothing read');
}

// Loaded before the clock starts, as BASE_CORE's is: undici's agent too (it loads on first use).
if (transport === 'core')
  await (await coreHttp()).request({ method: 'GET', url: endpoint.origin }).catch(() => undefined);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
if (kind === 'put-big') await putBig();
else if (kind === 'big-down') await bigDown();
else if (kind === 'small-up') await small(true);
else if (kind === 'small-down') await small(false);
else throw new Error(`unknown case ${kind}`);
const cpu = process.cpuUsage(cpu0);
const wall = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    kind,
    transport,
    cpu: (cpu.user + cpu.system) / 1e6,
    user: cpu.user / 1e6,
    sys: cpu.system / 1e6,
    wall,
    rssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);
node.destroy();
corePool?.destroy();
await pool.close();

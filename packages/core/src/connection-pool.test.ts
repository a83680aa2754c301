import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type ConnectionFactory,
  ConnectionLife,
  ConnectionPool,
  connectError,
  connectFailure,
  failedRequestUrl,
  httpTarget,
  requestFailure,
  untrustedCertificateCode,
} from './connection-pool.js';
import { ArtifactsError } from './errors.js';

interface FakeConnection {
  id: number;
  alive: boolean;
  life: ConnectionLife;
}

/** A factory whose connections are plain objects: the pool's bookkeeping is what is under test. */
function factory(options: { failCreate?: () => unknown; createDelayMs?: number } = {}) {
  const made: FakeConnection[] = [];
  const destroyed: number[] = [];
  const f: ConnectionFactory<FakeConnection> = {
    async create(signal) {
      if (options.createDelayMs) await new Promise((r) => setTimeout(r, options.createDelayMs));
      signal?.throwIfAborted();
      const failure = options.failCreate?.();
      if (failure) throw failure;
      const connection = { id: made.length + 1, alive: true, life: new ConnectionLife() };
      made.push(connection);
      return connection;
    },
    destroy(connection) {
      connection.alive = false;
      destroyed.push(connection.id);
    },
    life: (connection) => connection.life,
    isConnectionError(error) {
      return (error as { code?: string }).code === 'ECONNRESET';
    },
  };
  return { f, made, destroyed };
}

const reset = () => Object.assign(new Error('reset'), { code: 'ECONNRESET' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pool(f: ConnectionFactory<FakeConnection>, max = 2, perConnection = 1, idleTimeoutMs = 0) {
  return new ConnectionPool(f, {
    maxConnections: max,
    operationsPerConnection: perConnection,
    idleTimeoutMs,
    label: 'test://server',
  });
}

describe('ConnectionPool', () => {
  it('keeps only its own options of what it is given (a backend passes its settings, secrets and all)', () => {
    const settings = {
      maxConnections: 3,
      operationsPerConnection: 2,
      idleTimeoutMs: 10,
      label: 'test://server',
      password: 'hunter2',
      secrets: ['hunter2'],
    };
    const p = new ConnectionPool(factory().f, settings);
    expect(p.options).toEqual({
      maxConnections: 3,
      operationsPerConnection: 2,
      idleTimeoutMs: 10,
      label: 'test://server',
    });
    settings.maxConnections = 99;
    expect(p.options.maxConnections).toBe(3);
  });

  it('opens nothing until an operation needs a connection, then reuses it', async () => {
    const { f, made } = factory();
    const p = pool(f);
    expect(made).toHaveLength(0);
    const first = await p.use(async (c) => c.id);
    const second = await p.use(async (c) => c.id);
    expect([first, second]).toEqual([1, 1]);
    expect(made).toHaveLength(1);
  });

  it('never opens more than maxConnections; operations beyond wait and all complete', async () => {
    const { f, made } = factory({ createDelayMs: 5 });
    const p = pool(f, 2);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        p.use(async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(2);
          running--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(made).toHaveLength(2);
    expect(peak).toBe(2);
    expect(p.peakConnections).toBe(2);
  });

  it('shares a connection between up to operationsPerConnection operations once the pool is full', async () => {
    const { f, made } = factory();
    const p = pool(f, 2, 3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        p.use(async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(5);
          running--;
        }),
      ),
    );
    expect(made).toHaveLength(2);
    expect(peak).toBe(6);
  });

  it('retries once on a fresh connection after a connection-level failure and drops the broken one', async () => {
    const { f, made, destroyed } = factory();
    const p = pool(f, 2);
    await p.use(async () => undefined);
    let calls = 0;
    const used: number[] = [];
    const result = await p.use(async (c) => {
      used.push(c.id);
      if (calls++ === 0) throw reset();
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(used).toEqual([1, 2]);
    expect(destroyed).toEqual([1]);
    expect(made).toHaveLength(2);
  });

  it('retries only once', async () => {
    const { f } = factory();
    const p = pool(f, 2);
    let calls = 0;
    await expect(
      p.use(async () => {
        calls++;
        throw reset();
      }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(calls).toBe(2);
  });

  it('does not retry when the caller says the operation cannot be replayed', async () => {
    const { f } = factory();
    const p = pool(f, 2);
    let calls = 0;
    await expect(
      p.use(
        async () => {
          calls++;
          throw reset();
        },
        { retry: () => false },
      ),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(calls).toBe(1);
  });

  it('does not retry ordinary failures and keeps the connection', async () => {
    const { f, destroyed } = factory();
    const p = pool(f, 2);
    let calls = 0;
    await expect(
      p.use(async () => {
        calls++;
        throw new Error('no such file');
      }),
    ).rejects.toThrow('no such file');
    expect(calls).toBe(1);
    expect(destroyed).toEqual([]);
    expect(await p.use(async (c) => c.id)).toBe(1);
  });

  it('forgets a connection that died while idle', async () => {
    const { f, made } = factory();
    const p = pool(f, 1);
    await p.use(async () => undefined);
    made[0]!.life.die();
    expect(await p.use(async (c) => c.id)).toBe(2);
  });

  it('lets a waiting operation be aborted without taking a slot', async () => {
    const { f } = factory();
    const p = pool(f, 1);
    let release!: () => void;
    const busy = p.use(() => new Promise<void>((r) => (release = r)));
    await sleep(1);
    const controller = new AbortController();
    const waiting = p.use(async () => 'never', { signal: controller.signal });
    controller.abort(new DOMException('stop', 'AbortError'));
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    release();
    await busy;
    expect(await p.use(async () => 'next')).toBe('next');
  });

  it('passes a connect failure to the waiting operation without retrying it', async () => {
    let attempts = 0;
    const { f } = factory({
      failCreate: () => {
        attempts++;
        return new ArtifactsError('unauthenticated', 'denied');
      },
    });
    const p = pool(f, 2);
    await expect(p.use(async () => undefined)).rejects.toMatchObject({ code: 'unauthenticated' });
    expect(attempts).toBe(1);
    expect(p.size).toBe(0);
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const { f, destroyed } = factory();
    const p = pool(f, 2, 1, 20);
    await p.use(async () => undefined);
    await sleep(60);
    expect(destroyed).toEqual([1]);
    expect(p.size).toBe(0);
  });

  it('close() closes every connection and fails waiting and later operations', async () => {
    const { f, destroyed } = factory();
    const p = pool(f, 1);
    let release!: () => void;
    const busy = p.use(() => new Promise<void>((r) => (release = r)));
    await sleep(1);
    const waiting = p.use(async () => undefined);
    await p.close();
    await expect(waiting).rejects.toMatchObject({ code: 'failed_precondition' });
    await expect(p.use(async () => undefined)).rejects.toMatchObject({ code: 'failed_precondition' });
    expect(destroyed).toEqual([1]);
    release();
    await busy;
  });

  it('close() aborts a connection still being opened, and its operation fails', async () => {
    let opening: AbortSignal | undefined;
    const f: ConnectionFactory<FakeConnection> = {
      ...factory().f,
      // Opens only when aborted (a server silent in the handshake).
      create: (signal) =>
        new Promise((_, reject) => {
          opening = signal;
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    };
    const p = pool(f, 1);
    const operation = p.use(async () => undefined);
    await sleep(1);
    expect(opening?.aborted).toBe(false);
    await p.close();
    expect(opening?.aborted).toBe(true);
    await expect(operation).rejects.toMatchObject({ code: 'failed_precondition' });
  });
});

describe('ConnectionLife', () => {
  it('dies once: watchers run in order exactly once, and a late watcher runs at once', () => {
    const life = new ConnectionLife();
    const calls: string[] = [];
    life.watch(() => calls.push('pending requests'));
    life.watch(() => calls.push('pool'));
    expect(life.dead).toBe(false);
    expect(life.die()).toBe(true);
    expect(life.die()).toBe(false);
    expect(life.dead).toBe(true);
    life.watch(() => calls.push('late'));
    expect(calls).toEqual(['pending requests', 'pool', 'late']);
  });

  it('fails a request at once when its connection dies before the answer (a client may never call back), and only then', async () => {
    const life = new ConnectionLife();
    const lost = () => Object.assign(new Error('Connection lost'), { code: 'ECONNRESET' });
    const answered = life.request<number>((done) => done(null, 7), lost);
    await expect(answered).resolves.toBe(7);
    await expect(life.request((done) => done(new Error('No such file')), lost)).rejects.toThrow(
      'No such file',
    );
    await expect(
      life.request(() => {
        throw new Error('channel closed');
      }, lost),
    ).rejects.toThrow('channel closed');
    // A request nobody answers: the connection's death fails it.
    const silent = life.request<void>(() => undefined, lost);
    const pool: string[] = [];
    life.watch(() => pool.push('pool'));
    life.die();
    await expect(silent).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(pool).toEqual(['pool']);
    let sent = false;
    await expect(
      life.request(() => {
        sent = true;
      }, lost),
    ).rejects.toThrow('Connection lost');
    expect(sent).toBe(false);
  });

  it('the pool drops a connection the moment its life ends, even one in use, and never hands it out again', async () => {
    const { f, made, destroyed } = factory();
    const p = pool(f, 1);
    const seen = await p.use(async (c) => {
      c.life.die();
      return c.id;
    });
    expect(seen).toBe(1);
    expect(destroyed).toEqual([1]);
    expect(p.size).toBe(0);
    expect(await p.use(async (c) => c.id)).toBe(2);
    expect(made).toHaveLength(2);
  });

  it('a connection the pool closes (idle timeout, broken, close()) is marked dead for its watchers', async () => {
    const { f, made } = factory();
    const p = pool(f, 2);
    const heard: number[] = [];
    await p.use(async (c) => c.life.watch(() => heard.push(c.id)));
    await expect(
      p.use(
        async () => {
          throw reset();
        },
        { retry: () => false },
      ),
    ).rejects.toThrow('reset');
    expect(made[0]!.life.dead).toBe(true);
    await p.use(async (c) => c.life.watch(() => heard.push(c.id)));
    await p.close();
    expect(made.map((c) => c.life.dead)).toEqual([true, true]);
    expect(heard).toEqual([1, 2]);
  });
});

describe('ConnectionPool sockets', () => {
  it("refs a connection's socket while it is busy and unrefs it once idle", async () => {
    const { f } = factory();
    const calls: string[] = [];
    const socket = { ref: () => calls.push('ref'), unref: () => calls.push('unref') };
    const p = pool({ ...f, socket: () => socket });
    await p.use(async () => {
      calls.push('work');
    });
    await p.use(async () => {
      calls.push('work');
    });
    expect(calls).toEqual(['work', 'unref', 'ref', 'work', 'unref']);
    await p.close();
  });

  it.each([
    {
      quietWhenIdle: true,
      kept: false,
      why: 'a stray reply (FTP) closes it: the next command would take it for its answer',
    },
    { quietWhenIdle: false, kept: true, why: "otherwise it is kept (SSH's keepalive answers arrive idle)" },
  ])('bytes on an idle connection: $why', async ({ quietWhenIdle, kept }) => {
    // A real TCP server of a line protocol: one reply line per request line; the test makes it send
    // a stray line while the connection lies idle in the pool.
    const accepted: Socket[] = [];
    const server = createServer((socket) => {
      accepted.push(socket);
      socket.on('data', (data) => socket.write(`re ${String(data).trim()}\n`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    interface LineConnection {
      socket: Socket;
      life: ConnectionLife;
    }
    const made: LineConnection[] = [];
    const f: ConnectionFactory<LineConnection> = {
      async create() {
        const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
        await once(socket, 'connect');
        const connection = { socket, life: new ConnectionLife() };
        socket.on('close', connection.life.die);
        made.push(connection);
        return connection;
      },
      destroy: (connection) => void connection.socket.destroy(),
      life: (connection) => connection.life,
      isConnectionError: () => false,
      socket: (connection) => connection.socket,
      quietWhenIdle,
    };
    const p = new ConnectionPool(f, {
      maxConnections: 1,
      operationsPerConnection: 1,
      idleTimeoutMs: 0,
      label: 'line',
    });
    onTestFinished(() => p.close());
    const ask = (line: string) =>
      p.use(({ socket, life }) =>
        life.request<string>(
          (done) => {
            socket.once('data', (data) => done(null, String(data)));
            socket.write(`${line}\n`);
          },
          () => new Error('connection lost'),
        ),
      );
    expect(await ask('one')).toBe('re one\n');
    const arrived = once(made[0]!.socket, 'data');
    accepted[0]!.write('226 stray\n');
    await arrived;
    await tick();
    expect(made[0]!.life.dead).toBe(!kept);
    expect(await ask('two')).toBe('re two\n');
    expect(p.openedConnections).toBe(kept ? 1 : 2);
  });
});

describe('connectError', () => {
  const target = { label: 'sftp://u@files:2222', host: 'files', port: 2222, username: 'u', timeoutMs: 5000 };
  const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('names a port nobody listens on, and a host name that does not resolve', () => {
    const refused = connectError(target, errno('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:2222'));
    expect(refused).toMatchObject({
      code: 'unavailable',
      temporary: false,
      context: { host: 'files', port: 2222, user: 'u', reason: 'connection_refused' },
    });
    expect(refused.message).toBe(
      'cannot connect to sftp://u@files:2222: nothing accepts connections on files port 2222 (connect ECONNREFUSED 10.0.0.1:2222)',
    );
    const unknown = connectError(target, errno('ENOTFOUND', 'getaddrinfo ENOTFOUND files'));
    expect(unknown).toMatchObject({ code: 'unavailable', context: { reason: 'unknown_host' } });
    expect(unknown.message).toContain('the host name files does not resolve');
  });

  it('a connect that timed out is timeout, naming the limit', () => {
    const error = connectError(target, new Error('Timed out while waiting for handshake'));
    expect(error.code).toBe('timeout');
    expect(error.message).toBe(
      'connecting to sftp://u@files:2222 timed out after 5000 ms (Timed out while waiting for handshake)',
    );
    expect(connectError(target, errno('ETIMEDOUT', 'connect ETIMEDOUT')).code).toBe('timeout');
  });

  it('an untrusted TLS certificate is unauthenticated, with the hint for giving its CA', () => {
    const error = connectError(
      { ...target, caHint: 'give its CA with the caFile option' },
      errno('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
    );
    expect(error).toMatchObject({ code: 'unauthenticated', context: { reason: 'untrusted_certificate' } });
    expect(error.message).toBe(
      'the TLS certificate of sftp://u@files:2222 is not trusted (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain); give its CA with the caFile option',
    );
  });

  it("takes the protocol's refusal as given, passes an ArtifactsError through, and calls anything else unavailable", () => {
    const login = connectError(target, new Error('530 Login incorrect'), {
      code: 'unauthenticated',
      refused: 'the login',
    });
    expect(login).toMatchObject({
      code: 'unauthenticated',
      message: 'sftp://u@files:2222 refused the login: 530 Login incorrect',
    });
    expect(login.context).toEqual({ host: 'files', port: 2222, user: 'u' });
    const verdict = new ArtifactsError('unauthenticated', 'host key verification failed');
    expect(connectError(target, verdict)).toBe(verdict);
    const other = connectError({ label: 'ftp://h', host: 'h', port: 21 }, new Error('strange'));
    expect(other).toMatchObject({ code: 'unavailable', message: 'cannot connect to ftp://h: strange' });
    expect(other.context).toEqual({ host: 'h', port: 21 });
  });
});

describe('connectFailure', () => {
  const errno = (code: string, message: string) => Object.assign(new Error(message), { code });
  const target = httpTarget('https://user:secret@store.example:9443/bucket?sig=x', { caHint: 'set CA_FILE' });

  it('names an HTTP endpoint by its origin, never its credentials, path or query', () => {
    expect(target).toEqual({
      label: 'https://store.example:9443',
      host: 'store.example',
      port: 9443,
      caHint: 'set CA_FILE',
    });
    expect(httpTarget('http://[::1]/x')).toMatchObject({ label: 'http://[::1]', host: '::1', port: 80 });
  });

  it('finds the cause under an SDK wrapper, and a refusal is temporary only once the server was reached', () => {
    const wrapped = Object.assign(new Error('request failed'), {
      cause: errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9443'),
    });
    expect(connectFailure(target, wrapped)).toMatchObject({
      code: 'unavailable',
      temporary: false,
      context: { host: 'store.example', port: 9443, reason: 'connection_refused' },
    });
    expect(connectFailure(target, wrapped, { reached: true })?.temporary).toBe(true);
    const named = connectFailure(target, wrapped, { what: 'listing "run"', context: { bucket: 'b' } });
    expect(named?.message).toMatch(
      /^listing "run": cannot connect to https:\/\/store\.example:9443: nothing accepts/,
    );
    expect(named?.context).toMatchObject({ bucket: 'b', reason: 'connection_refused' });
    const messageOnly = new Error('request to https://x failed, reason: getaddrinfo ENOTFOUND store.example');
    expect(connectFailure(target, messageOnly)?.context.reason).toBe('unknown_host');
  });

  it('an untrusted certificate is unauthenticated with the hint; a server without TLS is not_tls', () => {
    const cert = connectFailure(target, {
      name: 'RestError',
      cause: errno('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'),
    });
    expect(cert).toMatchObject({
      code: 'unauthenticated',
      temporary: false,
      context: { reason: 'untrusted_certificate' },
    });
    expect(cert?.message).toMatch(
      /https:\/\/store\.example:9443 is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT.*; set CA_FILE$/,
    );
    expect(untrustedCertificateCode({ cause: errno('CERT_HAS_EXPIRED', 'expired') })).toBe(
      'CERT_HAS_EXPIRED',
    );
    const plain = connectFailure(target, errno('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'));
    expect(plain).toMatchObject({ code: 'unavailable', context: { reason: 'not_tls' } });
    expect(untrustedCertificateCode(errno('ERR_SSL_WRONG_VERSION_NUMBER', 'x'))).toBeUndefined();
  });

  it('leaves any other failure to the caller', () => {
    expect(connectFailure(target, errno('ECONNRESET', 'socket hang up'))).toBeUndefined();
    expect(
      connectFailure(target, new ArtifactsError('not_found', 'ECONNREFUSED in a key name')),
    ).toBeUndefined();
  });
});

describe('requestFailure', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

  it('takes the endpoint from where an SDK kept the request: request.url, config.url, or the message', () => {
    expect(failedRequestUrl({ request: { url: 'http://a:1/x?sig=s' } })).toBe('http://a:1/x?sig=s');
    expect(failedRequestUrl({ config: { url: new URL('http://b:2/y') } })).toBe('http://b:2/y');
    expect(failedRequestUrl(new Error('request to http://c:3/z failed, reason: connect ECONNREFUSED'))).toBe(
      'http://c:3/z',
    );
    expect(failedRequestUrl(new Error('nothing'))).toBeUndefined();
  });

  it('words it as connectFailure does, naming the origin only', () => {
    const error = Object.assign(new Error('send failed'), {
      request: { url: 'http://a:1/x?sig=s' },
      cause: refused,
    });
    const mapped = requestFailure(error, { addressHint: 'check the endpoint' }, { what: 'listing' });
    expect(mapped).toMatchObject({
      code: 'unavailable',
      context: { host: 'a', port: 1, reason: 'connection_refused' },
    });
    expect(mapped?.message).toMatch(/^listing: cannot connect to http:\/\/a:1: .*; check the endpoint$/);
    expect(requestFailure(refused, {})).toBeUndefined();
  });
});

describe('ConnectionPool closing', () => {
  it("refs an idle connection's socket again before closing it, so the close holds the process", async () => {
    const { f } = factory();
    const calls: string[] = [];
    const socket = { ref: () => calls.push('ref'), unref: () => calls.push('unref') };
    const p = pool({ ...f, socket: () => socket, destroy: () => void calls.push('destroy') });
    await p.use(async () => undefined);
    expect(calls).toEqual(['unref']);
    await p.close();
    expect(calls).toEqual(['unref', 'ref', 'destroy']);
  });
});

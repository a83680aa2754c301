/**
 * The container images of the integration servers: `pnpm servers images [NAME…]` builds them locally
 * from the same pinned versions the native runs install (integration/images/<image>/Dockerfile), and
 * the launchers' container paths pick them (serverImage()).
 *
 * Cached by content: an image's tag is `artifacts-it/<image>:<hash>`, the hash covering its Dockerfile
 * directory, its build arguments (the pinned versions), what it is built on and what the host puts into
 * its build context; a tag the engine already has is not built again. Base images: a Debian bookworm
 * root file system made with `debootstrap` and `docker import`ed (where no registry is reachable; the
 * default when debootstrap is installed and this runs as root on Linux), else `debian:bookworm-slim`;
 * ARTIFACTS_IT_DEBIAN_BASE / ARTIFACTS_IT_NODE_BASE name another.
 *
 * Which image a server runs: ARTIFACTS_IT_IMAGE_<SERVER> (e.g. ARTIFACTS_IT_IMAGE_S3=minio/minio:…)
 * if set; else the local build when the engine has it; else the official image where one fits the
 * launcher (MinIO, Azurite, fake-gcs-server: pulled by testcontainers); else an error naming the
 * command that builds it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerName } from './types.js';
import { appendLog, cacheRoot, IT_ROOT, runLogged, ServerError } from './util.js';

const IMAGES_DIR = join(IT_ROOT, 'images');
const DEBIAN_SUITE = 'bookworm';
const DEBIAN_MIRROR = process.env.ARTIFACTS_IT_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
/** The APT sources of the imported root file system: the host's suites (same package versions). */
const DEBIAN_SOURCES = `deb ${DEBIAN_MIRROR} ${DEBIAN_SUITE} main
deb ${DEBIAN_MIRROR} ${DEBIAN_SUITE}-updates main
deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main
`;

type BaseKind = 'debian' | 'node' | 'scratch';

interface ImageDef {
  /** `artifacts-it/<id>`, and the directory integration/images/<id>/. */
  id: string;
  server?: ServerName;
  base: BaseKind;
  /** The registry image that fits the launcher, used when no local build is present. */
  official?: () => string;
  /** Build arguments: the pinned versions. */
  args: () => Promise<Record<string, string>>;
  /** Puts host-built files into the build context (`ctx`), installing them first if needed. */
  prepare?: (ctx: string, logFile: string) => Promise<void>;
  /** Other images the server's container path also runs (built with it). */
  with?: string[];
}

const rootPackage = () =>
  JSON.parse(readFileSync(join(IT_ROOT, '..', 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };

/** The Node version the repository runs (the root `node` devDependency). */
function nodeVersion(): string {
  const v = rootPackage().devDependencies?.node;
  if (!v) throw new ServerError('the root package.json pins no `node` devDependency');
  return v;
}

const DEFS: ImageDef[] = [
  {
    id: 'node',
    base: 'debian',
    args: async () => ({ NODE_VERSION: nodeVersion() }),
    async prepare(ctx) {
      if (process.version !== `v${nodeVersion()}`) {
        throw new ServerError(
          `the node image copies the running Node (${process.version}), which is not the pinned v${nodeVersion()}: run through pnpm`,
        );
      }
      await copyFile(process.execPath, join(ctx, 'node'));
    },
  },
  {
    id: 'minio',
    server: 's3',
    base: 'scratch',
    official: () => 'minio/minio:RELEASE.2025-10-15T17-29-55Z',
    args: async () => ({ VERSION: (await import('./servers/s3.js')).MINIO_VERSION }),
    async prepare(ctx, logFile) {
      const { launcher, MINIO_VERSION } = await import('./servers/s3.js');
      const { cacheDirFor } = await import('./util.js');
      await launcher.install({ cacheDir: cacheRoot(), logFile });
      await copyFile(join(cacheDirFor('minio', MINIO_VERSION), 'bin', 'minio'), join(ctx, 'minio'));
    },
  },
  {
    id: 'fake-gcs-server',
    server: 'gcs',
    base: 'scratch',
    official: () => `fsouza/fake-gcs-server:${FAKE_GCS_TAG()}`,
    args: async () => ({ VERSION: (await import('./servers/gcs.js')).FAKE_GCS_VERSION }),
    async prepare(ctx, logFile) {
      const { launcher, FAKE_GCS_VERSION } = await import('./servers/gcs.js');
      const { cacheDirFor } = await import('./util.js');
      await launcher.install({ cacheDir: cacheRoot(), logFile });
      await copyFile(
        join(cacheDirFor('fake-gcs-server', FAKE_GCS_VERSION), 'bin', 'fake-gcs-server'),
        join(ctx, 'fake-gcs-server'),
      );
    },
  },
  {
    id: 'azurite',
    server: 'azure',
    base: 'node',
    official: () => `mcr.microsoft.com/azure-storage/azurite:${azuriteVersion()}`,
    args: async () => ({ VERSION: azuriteVersion() }),
    async prepare(ctx, logFile) {
      // the package and its production dependencies, flat (npm), at the pinned version
      const app = join(ctx, 'app');
      await mkdir(app, { recursive: true });
      await writeFile(join(app, 'package.json'), '{"private":true}\n');
      await runLogged(
        'npm',
        [
          'install',
          '--omit=dev',
          '--no-audit',
          '--no-fund',
          '--ignore-scripts',
          '--engine-strict=false',
          `azurite@${azuriteVersion()}`,
        ],
        { cwd: app, logFile, timeoutMs: 20 * 60_000 },
      );
    },
  },
  {
    id: 'sshd',
    server: 'sftp',
    base: 'debian',
    args: async () => ({}),
  },
  {
    id: 'pure-ftpd',
    server: 'ftp',
    base: 'debian',
    args: async () => ({}),
  },
  {
    id: 'hdfs',
    server: 'hdfs',
    base: 'debian',
    args: async () => ({
      VERSION: (await import('./servers/hdfs.js')).HADOOP_VERSION,
      POM_SHA256: createHash('sha256')
        .update(readFileSync(join(IT_ROOT, 'hdfs', 'pom.xml')))
        .digest('hex'),
    }),
    async prepare(ctx, logFile) {
      const { launcher, hdfsLibDir } = await import('./servers/hdfs.js');
      await launcher.install({ cacheDir: cacheRoot(), logFile });
      const lib = hdfsLibDir(cacheRoot());
      await mkdir(join(ctx, 'lib'));
      for (const f of await readdir(lib)) await copyFile(join(lib, f), join(ctx, 'lib', f));
    },
  },
  {
    // hdfs-kerberos: the KDC (servers/kdc-container.ts) beside the secure cluster in the hdfs image
    id: 'kdc',
    server: 'hdfs-kerberos',
    base: 'debian',
    args: async () => ({}),
    with: ['hdfs'],
  },
  {
    id: 'mlflow',
    server: 'mlflow',
    base: 'debian',
    args: async () => {
      const m = await import('./servers/mlflow.js');
      return {
        MLFLOW_VERSION: m.MLFLOW_VERSION,
        BOTO3_VERSION: m.BOTO3_VERSION,
        DEPENDENCIES_FROM: m.DEPENDENCIES_FROM,
        UV_VERSION: m.UV_VERSION,
      };
    },
    async prepare(ctx) {
      // the CA bundle pip and uv trust here (a TLS-inspecting proxy's CA may be in it); empty: none
      const bundle = [
        process.env.PIP_CERT,
        process.env.SSL_CERT_FILE,
        '/etc/ssl/certs/ca-certificates.crt',
      ].find((f) => f && existsSync(f));
      if (bundle) await copyFile(bundle, join(ctx, 'host-ca.crt'));
      else await writeFile(join(ctx, 'host-ca.crt'), '');
    },
  },
];

const FAKE_GCS_TAG = () => '1.55.1';

function azuriteVersion(): string {
  const pkg = join(IT_ROOT, 'node_modules', 'azurite', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

function def(id: string): ImageDef {
  const d = DEFS.find((x) => x.id === id);
  if (!d) throw new ServerError(`unknown image ${id}`);
  return d;
}

/** The image definitions a server runs on (its own, plus nothing else: bases are resolved separately). */
export function imageIdFor(server: ServerName): string | undefined {
  return DEFS.find((d) => d.server === server)?.id;
}

/** Every buildable image name, bases first. */
export const IMAGE_IDS = ['debian', ...DEFS.map((d) => d.id)];

/** Whether this machine builds the Debian base with debootstrap (else it uses a registry's image). */
function debootstrapBase(): boolean {
  if (process.env.ARTIFACTS_IT_DEBIAN_BASE) return false;
  return process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/sbin/debootstrap');
}

function debianBaseRef(): string {
  if (process.env.ARTIFACTS_IT_DEBIAN_BASE) return process.env.ARTIFACTS_IT_DEBIAN_BASE;
  if (!debootstrapBase()) return `debian:${DEBIAN_SUITE}-slim`;
  const h = createHash('sha256')
    .update(`debootstrap --variant=minbase ${DEBIAN_SUITE} ${DEBIAN_MIRROR}\n${DEBIAN_SOURCES}`)
    .digest('hex')
    .slice(0, 12);
  return `artifacts-it/debian:${DEBIAN_SUITE}-${h}`;
}

async function baseRef(kind: BaseKind): Promise<string | undefined> {
  if (kind === 'scratch') return undefined;
  if (kind === 'debian') return debianBaseRef();
  if (process.env.ARTIFACTS_IT_NODE_BASE) return process.env.ARTIFACTS_IT_NODE_BASE;
  // the locally built Node base on a debootstrapped Debian; the official Node image otherwise
  if (!debootstrapBase()) return `node:${nodeVersion().split('.')[0]}-${DEBIAN_SUITE}-slim`;
  return imageRef('node');
}

/** Hash of every file under dir (names and bytes), sorted. */
async function hashDir(
  dir: string,
  h = createHash('sha256'),
  prefix = '',
): Promise<ReturnType<typeof createHash>> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await hashDir(p, h, `${prefix}${e.name}/`);
    else {
      const st = await stat(p);
      h.update(`${prefix}${e.name}\0${st.mode & 0o111 ? 'x' : '-'}\0`);
      h.update(await readFile(p));
    }
  }
  return h;
}

/** The `--build-arg`s an image is built with (besides BASE): the pins its Dockerfile installs. */
export async function imageBuildArgs(id: string): Promise<Record<string, string>> {
  return def(id).args();
}

/** `artifacts-it/<id>:<content hash>`: what `pnpm servers images` builds for this definition now. */
export async function imageRef(id: string): Promise<string> {
  if (id === 'debian') return debianBaseRef();
  const d = def(id);
  const h = await hashDir(join(IMAGES_DIR, id));
  h.update(JSON.stringify(await d.args()));
  h.update(`base ${(await baseRef(d.base)) ?? 'scratch'}`);
  return `artifacts-it/${id}:${h.digest('hex').slice(0, 12)}`;
}

/** True when the engine has this image (testcontainers' client: works with any DOCKER_HOST). */
async function engineHas(ref: string): Promise<boolean> {
  const { ImageName } = await import('testcontainers');
  const client = await (await import('./containers.js')).runtimeClient();
  return client.image.exists(ImageName.fromString(ref));
}

/** The image a server's container runs (see the file comment for the order). */
export async function serverImage(server: ServerName): Promise<string> {
  const variable = `ARTIFACTS_IT_IMAGE_${server.toUpperCase().replaceAll('-', '_')}`;
  const override = process.env[variable];
  if (override) return override;
  const id = imageIdFor(server);
  if (!id) throw new ServerError(`${server}: no container image is defined (integration/src/images.ts)`);
  const local = await imageRef(id);
  if (await engineHas(local)) return local;
  const official = def(id).official?.();
  if (official) return official;
  throw new ServerError(
    `${server}: the engine has no image ${local}: build it with \`pnpm servers images ${server}\` ` +
      `(or name one with ${variable})`,
  );
}

async function buildDebianBase(ref: string, logFile: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'artifacts-it-rootfs-'));
  const root = join(work, 'rootfs');
  try {
    await runLogged('debootstrap', ['--variant=minbase', DEBIAN_SUITE, root, DEBIAN_MIRROR], {
      logFile,
      timeoutMs: 30 * 60_000,
    });
    await writeFile(join(root, 'etc', 'apt', 'sources.list'), DEBIAN_SOURCES);
    await runLogged(
      'sh',
      [
        '-c',
        'rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* && tar -C "$R" --numeric-owner -c . | docker import --change "CMD [\\"/bin/bash\\"]" - "$T"',
      ],
      { logFile, extraEnv: { R: root, T: ref }, timeoutMs: 10 * 60_000 },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface BuildResult {
  id: string;
  ref: string;
  built: boolean;
  ms: number;
}

/** Builds one image (and its bases) unless the engine has it; returns what it did. */
async function buildOne(id: string, logFile: string, done: Map<string, BuildResult>): Promise<BuildResult> {
  const prior = done.get(id);
  if (prior) return prior;
  const t0 = Date.now();
  const ref = await imageRef(id);
  const result = (built: boolean): BuildResult => {
    const r = { id, ref, built, ms: Date.now() - t0 };
    done.set(id, r);
    return r;
  };
  if (id === 'debian') {
    if (!ref.startsWith('artifacts-it/') || (await engineHas(ref))) return result(false);
    appendLog(logFile, `building ${ref} (debootstrap)\n`);
    await buildDebianBase(ref, logFile);
    return result(true);
  }
  const d = def(id);
  if (d.base === 'debian') await buildOne('debian', logFile, done);
  if (d.base === 'node' && (await baseRef('node')) === (await imageRef('node')))
    await buildOne('node', logFile, done);
  if (await engineHas(ref)) return result(false);
  const ctx = await mkdtemp(join(tmpdir(), `artifacts-it-image-${id}-`));
  try {
    for (const f of await readdir(join(IMAGES_DIR, id)))
      await copyFile(join(IMAGES_DIR, id, f), join(ctx, f));
    await d.prepare?.(ctx, logFile);
    const base = await baseRef(d.base);
    const args = { ...(await d.args()), ...(base ? { BASE: base } : {}) };
    appendLog(logFile, `building ${ref}\n`);
    await runLogged(
      'docker',
      [
        'build',
        '--network',
        'host',
        '--pull=false',
        '--label',
        `artifacts-it.image=${id}`,
        ...Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
        '-t',
        ref,
        ctx,
      ],
      { logFile, timeoutMs: 60 * 60_000 },
    );
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  return result(true);
}

/** Builds the images of `servers` (all by default). */
export async function buildImages(
  servers: ServerName[],
  logFile: string,
  say: (l: string) => void,
): Promise<BuildResult[]> {
  const done = new Map<string, BuildResult>();
  const out: BuildResult[] = [];
  for (const s of servers) {
    const id = imageIdFor(s);
    if (!id) throw new ServerError(`${s}: no container image is defined`);
    for (const one of [id, ...(def(id).with ?? [])]) {
      const r = await buildOne(one, logFile, done);
      say(`${s}: ${r.ref} ${r.built ? `built in ${Math.round(r.ms / 1000)} s` : 'present (cached)'}`);
      out.push(r);
    }
  }
  for (const base of ['debian', 'node']) {
    const r = done.get(base);
    if (r?.built) say(`(base ${r.ref} built in ${Math.round(r.ms / 1000)} s)`);
  }
  return out;
}

/** The Node base image (built from the Debian base when this machine builds bases itself). */
export async function buildNodeBase(logFile: string): Promise<string> {
  const ref = (await baseRef('node')) as string;
  if (ref === (await imageRef('node'))) await buildOne('node', logFile, new Map());
  return ref;
}

// curl: WebHDFS (CREATE on the NameNode, then the body to the DataNode, as WebHDFS documents; 16
// small files at a time through xargs), FTP (one connection, a -K list for many files) and the proxy
// (PUT/GET on the artifact API; many files as a -K list, 16 at a time with --parallel).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CURL_PUT = `loc=$(curl -sS -o /dev/null -w '%{redirect_url}' -X PUT "$1") && curl -sSf -o /dev/null -X PUT -T "$2" "$loc"`;

export default {
  id: 'curl',
  label: (c) =>
    ({ hdfs: 'curl (WebHDFS, 16 at a time)', proxy: 'curl' })[c.backend] ?? 'curl (one connection, -K list)',
  backends: ['hdfs', 'ftp', 'proxy'],
  command: async (c, op, p) => (({ hdfs: webhdfs, proxy })[c.backend] ?? ftp)(c, op, p),
};

async function proxy(c, op, p) {
  const url = (rel) => `${c.artifactsUrl}/${rel.split('/').map(encodeURIComponent).join('/')}`;
  const base = ['--silent', '--show-error', '--fail', '--create-dirs'];
  if (op === 'big-up') return { cmd: 'curl', args: [...base, '-T', p.local, url(`${p.rel}/big.bin`)] };
  if (op === 'big-down')
    return { cmd: 'curl', args: [...base, '-o', join(p.local, 'big.bin'), url(`${p.rel}/big.bin`)] };
  const lines = c.smallFiles.map((rel) =>
    op === 'small-up'
      ? `upload-file = "${join(p.local, rel)}"\nurl = "${url(`${p.rel}/small/${rel}`)}"`
      : `url = "${url(`${p.rel}/small/${rel}`)}"\noutput = "${join(p.local, 'small', rel)}"`,
  );
  const config = join(c.work, 'curl-list.txt');
  await writeFile(config, `${lines.join('\n')}\n`);
  return { cmd: 'curl', args: [...base, '--parallel', '--parallel-max', '16', '-K', config] };
}

async function webhdfs(c, op, p) {
  const user = c.env.HADOOP_USER_NAME ?? 'root';
  const url = (path, o, extra = '') =>
    `${c.env.ARTIFACTS_IT_HDFS_WEBHDFS_URL}/webhdfs/v1${path}?op=${o}&user.name=${user}${extra}`;
  const dir = c.path(p.rel);
  const put = (file, path) => [url(path, 'CREATE', '&overwrite=true'), file];
  const get = (path, file) => [url(path, 'OPEN'), file];
  let pairs;
  if (op === 'big-up') pairs = [put(p.local, `${dir}/big.bin`)];
  else if (op === 'big-down') pairs = [get(`${dir}/big.bin`, join(p.local, 'big.bin'))];
  else if (op === 'small-up')
    pairs = c.smallFiles.map((rel) => put(join(p.local, rel), `${dir}/small/${rel}`));
  else pairs = c.smallFiles.map((rel) => get(`${dir}/small/${rel}`, join(p.local, 'small', rel)));
  const script = op.endsWith('-up') ? CURL_PUT : 'curl -sSfL --create-dirs -o "$2" "$1"';
  return {
    cmd: 'sh',
    args: ['-c', `xargs -0 -n 2 -P 16 sh -c '${script.replace(/'/g, `'\\''`)}' put`],
    input: `${pairs.flat().join('\0')}\0`,
  };
}

async function ftp(c, op, p) {
  const {
    ARTIFACTS_IT_FTP_HOST: host,
    ARTIFACTS_IT_FTP_PORT: port,
    ARTIFACTS_IT_FTP_USER: user,
    ARTIFACTS_IT_FTP_PASSWORD: pass,
  } = c.env;
  const netrc = join(c.work, 'bench.netrc');
  await writeFile(netrc, `machine ${host} login ${user} password ${pass}\n`, { mode: 0o600 });
  const auth = [
    '--netrc-file',
    netrc,
    '--silent',
    '--show-error',
    '--fail',
    '--ftp-create-dirs',
    '--create-dirs',
  ];
  const url = (path) => `ftp://${host}:${port}${path.split('/').map(encodeURIComponent).join('/')}`;
  const dir = c.path(p.rel);
  if (op === 'big-up') return { cmd: 'curl', args: [...auth, '-T', p.local, url(`${dir}/big.bin`)] };
  if (op === 'big-down')
    return { cmd: 'curl', args: [...auth, '-o', join(p.local, 'big.bin'), url(`${dir}/big.bin`)] };
  const lines = c.smallFiles.map((rel) =>
    op === 'small-up'
      ? `upload-file = "${join(p.local, rel)}"\nurl = "${url(`${dir}/small/${rel}`)}"`
      : `url = "${url(`${dir}/small/${rel}`)}"\noutput = "${join(p.local, 'small', rel)}"`,
  );
  const config = join(c.work, 'curl-list.txt');
  await writeFile(config, `${lines.join('\n')}\n`);
  return { cmd: 'curl', args: [...auth, '-K', config] };
}

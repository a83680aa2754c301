// obstore (PyPI; Python over Rust's object_store), installed into the bench tools venv: put/get, 16 at a time.
import { fileURLToPath } from 'node:url';

export default {
  id: 'obstore',
  label: () => 'obstore (object_store)',
  // not GCS: against fake-gcs-server it still asks the metadata server for a token
  backends: ['s3', 'azure', 'local'],
  available: (c) => (c.tool('python', 'obstore') ? undefined : 'obstore not installed (pnpm bench:tools)'),
  command: (c, op, p) => ({
    cmd: c.tool('python', 'obstore'),
    args: [
      fileURLToPath(new URL('obstore_op.py', import.meta.url)),
      c.backend,
      op,
      p.local,
      c.bucket ?? '',
      c.backend === 'local' ? c.path(p.rel) : c.key(p.rel),
    ],
  }),
};

// MLflow's own artifact repository (PyPI `mlflow`, the integration venv): get_artifact_repository(uri).log_artifact(s) / download_artifacts.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export default {
  id: 'mlflow',
  label: (c) => `MLflow ${c.mlflowVersion} artifact repo`,
  backends: ['s3', 'azure', 'gcs', 'ftp', 'local', 'proxy'],
  available: (c) =>
    c.mlflowPython && existsSync(c.mlflowPython)
      ? undefined
      : 'MLflow venv not installed (pnpm servers install mlflow)',
  command: (c, op, p) => ({
    cmd: c.mlflowPython,
    args: [fileURLToPath(new URL('mlflow_repo.py', import.meta.url)), op, c.mlflowUri(p.rel), p.local],
    env: { MLFLOW_DISABLE_TELEMETRY: 'true', MLFLOW_HTTP_REQUEST_TIMEOUT: '1200' },
  }),
};

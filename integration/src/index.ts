/** @artifacts/integration: launchers and helpers (see README.md). Test files use ./vitest. */
export { type SelfSignedCert, selfSignedCert } from './certs.js';
export { ALL_SERVERS, getLauncher, isServerName, launchers } from './registry.js';
export {
  MLFLOW_VERSION,
  type MlflowServer,
  type MlflowServerOptions,
  type MlflowTrackingOptions,
  mlflowVenv,
  startMlflowServer,
} from './servers/mlflow.js';
export { type LaunchedForTest, launchForTest } from './testing.js';
export type { LaunchContext, Launcher, RunningServer, ServerName } from './types.js';
export * from './util.js';

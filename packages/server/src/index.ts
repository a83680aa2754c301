export type {
  AccessLogEntry,
  ArtifactRoutesOptions,
  ArtifactServerOptions,
  AuthOptions,
  LimitOptions,
} from './options.js';
export { DEFAULT_DESTINATION, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_PREFIXES, isLoopback } from './options.js';
export { artifactRoutes } from './routes.js';
export type { ArtifactServer, ServerAddress, StartedServer, StartServerOptions } from './server.js';
export { createArtifactHandler, createArtifactServer, startServer } from './server.js';

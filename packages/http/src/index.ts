import { registerBackend } from '@artifacts/core';
import { httpBackend } from './plugin.js';

export type { ArtifactEndpoint } from './endpoint.js';
export { resolveArtifactEndpoint } from './endpoint.js';
export { HttpDriver } from './internal/driver.js';
export type { HttpBackendOptions } from './internal/settings.js';
export { httpBackend } from './plugin.js';

registerBackend(httpBackend);

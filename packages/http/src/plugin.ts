import type { BackendPlugin } from '@artifacts/core';
import { resolveArtifactEndpoint } from './endpoint.js';
import { HttpDriver } from './http-driver.js';
import { type HttpBackendOptions, resolveHttpOptions } from './options.js';

/** `mlflow-artifacts:`, `http:` and `https:` URIs: the client of an artifact proxy server. */
export const httpBackend: BackendPlugin<HttpBackendOptions> = {
  name: '@artifacts/http',
  schemes: ['mlflow-artifacts', 'http', 'https'],
  open(location, options = {}, context) {
    const resolved = resolveHttpOptions(options);
    const endpoint = resolveArtifactEndpoint(location, resolved.trackingUri);
    // Credentials in the URI's user info are a fallback for the MLFLOW_TRACKING_* variables.
    const withUriCredentials = {
      ...resolved,
      username: resolved.username ?? endpoint.username,
      password: resolved.password ?? endpoint.password,
    };
    return new HttpDriver(
      endpoint,
      withUriCredentials,
      resolved.connections ?? Math.max(context.maxConcurrency, 4),
      context,
    );
  },
};

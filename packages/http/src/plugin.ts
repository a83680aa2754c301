import type { BackendPlugin } from '@artifacts/core';
import { resolveArtifactEndpoint } from './endpoint.js';
import { HttpDriver } from './http-driver.js';
import { type HttpBackendOptions, resolveHttpOptions } from './options.js';

/** `mlflow-artifacts:`, `http:` and `https:` URIs: the client of an artifact proxy server. */
export const httpBackend: BackendPlugin<HttpBackendOptions> = {
  name: '@artifacts/http',
  schemes: ['mlflow-artifacts', 'http', 'https'],
  open(location, options = {}, context) {
    const own = resolveHttpOptions(options);
    // One retry budget: when the user chose core's maxRetries, core's retry layer retries and the
    // client makes one attempt per call (its errors say whether they are temporary); otherwise the
    // client's own MLflow-compatible loop (MLFLOW_HTTP_REQUEST_MAX_RETRIES) retries, and what it
    // gives up on is not retried again by core.
    const resolved = context.maxRetriesExplicit ? { ...own, maxRetries: 0, deferRetries: true } : own;
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

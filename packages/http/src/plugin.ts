import { type BackendPlugin, mlflowRetrySchedule } from '@artifacts/core';
import { resolveArtifactEndpoint } from './endpoint.js';
import { HttpDriver } from './internal/driver.js';
import { type HttpBackendOptions, resolveHttpOptions } from './internal/settings.js';

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
    return new HttpDriver(endpoint, withUriCredentials, {
      connections: resolved.connections ?? Math.max(context.maxConcurrency, 4),
      timeoutMs: context.timeoutMs,
      // Core's retry layer and engines retry, on MLflow's schedule (MLFLOW_HTTP_REQUEST_*): waits of
      // factor × 2^(n−1) s, at most 60 s, plus up to `backoffJitter` s. The user's choice of core's
      // maxRetries (the option or ARTIFACTS_MAX_RETRIES) wins over MLFLOW_HTTP_REQUEST_MAX_RETRIES.
      retryPolicy: {
        maxRetries:
          context.maxRetriesExplicit && context.maxRetries !== undefined
            ? context.maxRetries
            : resolved.maxRetries,
        ...mlflowRetrySchedule(resolved.backoffFactor, resolved.backoffJitter),
      },
    });
  },
};

import { ArtifactsError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { artifactUrl, listUrl, multipartUrl, resolveArtifactEndpoint } from './endpoint.js';

describe('resolveArtifactEndpoint', () => {
  it('mlflow-artifacts:/path resolves against the tracking URI, keeping its path prefix', () => {
    expect(resolveArtifactEndpoint('mlflow-artifacts:/0/run/artifacts', 'http://tracking:5000')).toEqual({
      apiBase: 'http://tracking:5000/api/2.0',
      root: '0/run/artifacts',
    });
    expect(resolveArtifactEndpoint('mlflow-artifacts:/x', 'https://example.com/mlflow/')).toEqual({
      apiBase: 'https://example.com/mlflow/api/2.0',
      root: 'x',
    });
    expect(resolveArtifactEndpoint('mlflow-artifacts:/', 'http://t:1')).toEqual({
      apiBase: 'http://t:1/api/2.0',
      root: '',
    });
  });

  it('mlflow-artifacts://host:port/path takes host and port from the URI and the scheme from the tracking URI', () => {
    expect(resolveArtifactEndpoint('mlflow-artifacts://store:8080/a/b', 'https://tracking/prefix')).toEqual({
      apiBase: 'https://store:8080/prefix/api/2.0',
      root: 'a/b',
    });
    // Without an http(s) tracking URI the scheme is http.
    expect(resolveArtifactEndpoint('mlflow-artifacts://store:8080/a', undefined)).toEqual({
      apiBase: 'http://store:8080/api/2.0',
      root: 'a',
    });
    expect(resolveArtifactEndpoint('mlflow-artifacts://store:8080/a', 'file:///tmp/mlruns').apiBase).toBe(
      'http://store:8080/api/2.0',
    );
  });

  it('mlflow-artifacts:/path without an http(s) tracking URI says how to set one', () => {
    for (const tracking of [undefined, '', 'file:///tmp/mlruns', 'databricks']) {
      expect(() => resolveArtifactEndpoint('mlflow-artifacts:/a', tracking)).toThrow(/MLFLOW_TRACKING_URI/);
    }
  });

  it('credentials in the tracking URI become basic credentials and leave the API base', () => {
    const endpoint = resolveArtifactEndpoint('mlflow-artifacts:/a', 'http://bob:s3cr%40t@tracking:5000');
    expect(endpoint).toEqual({
      apiBase: 'http://tracking:5000/api/2.0',
      root: 'a',
      username: 'bob',
      password: 's3cr@t',
    });
  });

  it('http(s) URIs split at /mlflow-artifacts/artifacts, whatever the API prefix', () => {
    expect(resolveArtifactEndpoint('http://h:5000/api/2.0/mlflow-artifacts/artifacts/exp/1')).toEqual({
      apiBase: 'http://h:5000/api/2.0',
      root: 'exp/1',
    });
    expect(resolveArtifactEndpoint('https://h/proxy/ajax-api/2.0/mlflow-artifacts/artifacts')).toEqual({
      apiBase: 'https://h/proxy/ajax-api/2.0',
      root: '',
    });
    expect(resolveArtifactEndpoint('http://h/api/2.0/mlflow-artifacts/artifacts/with%20space').root).toBe(
      'with space',
    );
  });

  it('an http URI that is not an artifact proxy route, or that climbs out with .., is refused', () => {
    for (const uri of [
      'http://h/some/file.bin',
      'http://h/api/2.0/mlflow-artifacts/artifactsX/a',
      'http://h/api/2.0/mlflow-artifacts/artifacts/../../etc',
      'http://h/api/2.0/mlflow-artifacts/artifacts/%2e%2e/x',
      'mlflow-artifacts:/a/../../b',
      'mlflow-artifacts://host:1/..%2f..%2fx',
    ]) {
      let caught: unknown;
      try {
        resolveArtifactEndpoint(uri, 'http://t');
      } catch (error) {
        caught = error;
      }
      expect(ArtifactsError.is(caught, 'invalid_argument'), uri).toBe(true);
    }
  });
});

describe('URL building', () => {
  it('percent-encodes each segment and keeps the separators', () => {
    expect(artifactUrl('http://h/api/2.0', 'a b/ü?#%.txt')).toBe(
      'http://h/api/2.0/mlflow-artifacts/artifacts/a%20b/%C3%BC%3F%23%25.txt',
    );
    expect(listUrl('http://h/api/2.0', 'a/b c')).toBe(
      'http://h/api/2.0/mlflow-artifacts/artifacts?path=a%2Fb%20c',
    );
    expect(multipartUrl('http://h/api/2.0', 'create', '')).toBe(
      'http://h/api/2.0/mlflow-artifacts/mpu/create/',
    );
    expect(multipartUrl('http://h/api/2.0', 'abort', 'd/e')).toBe(
      'http://h/api/2.0/mlflow-artifacts/mpu/abort/d/e',
    );
  });
});

// Loads the backend package for a URI's scheme (core finds none by itself from here).
export const PACKAGES = {
  s3: 's3',
  wasbs: 'azure',
  gs: 'gcs',
  sftp: 'sftp',
  ftp: 'ftp',
  ftps: 'ftp',
  hdfs: 'hdfs',
  file: 'local',
  http: 'http',
  https: 'http',
  'mlflow-artifacts': 'http',
};

export async function loadBackendFor(uri) {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  const pkg = scheme && PACKAGES[scheme];
  if (pkg) await import(`@artifacts/${pkg}`);
}

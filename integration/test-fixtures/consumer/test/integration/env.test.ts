import { getServer } from '@artifacts/integration/vitest';
import { expect, it } from 'vitest';

it('sees the servers env in process.env', async () => {
  expect(process.env.ARTIFACTS_IT_S3_URI).toBe('s3://artifacts-it/root');
  expect(process.env.MLFLOW_S3_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(process.env.ARTIFACTS_IT_AZURE_URI).toMatch(/^wasbs:\/\//);
  const res = await fetch(`${process.env.MLFLOW_S3_ENDPOINT_URL}/minio/health/live`);
  expect(res.status).toBe(200);
});

it('restarts a server from inside a test (same port, answers again)', async () => {
  const azure = await getServer('azure');
  expect(azure.env.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT).toBe(process.env.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT);
  await azure.restart();
  const res = await fetch(`${process.env.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT}?comp=list`);
  expect(res.status).toBeGreaterThan(0);
});

import { type FaultyDriver, MemoryDriver, withFaults } from '@artifacts/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, type DriverFixture, startDriverFixture } from './helpers.js';

// The storage calls behind each download, counted on the destination's driver: a ranged GET (what
// @artifacts/http always sends) is one read, never a stat first (for S3, a HEAD before every GET).

let driver: FaultyDriver;
const store = new MemoryDriver();

const A = '/api/2.0/mlflow-artifacts/artifacts';
let fixture: DriverFixture;
let url: string;
beforeAll(async () => {
  fixture = await startDriverFixture('counted', () => {
    driver = withFaults(store, []);
    return driver;
  });
  ({ url } = fixture);
  await call(url, 'PUT', `${A}/small.txt`, { body: '0123456789' });
  await call(url, 'PUT', `${A}/empty.txt`, { body: '' });
  await call(url, 'PUT', `${A}/dir/inside.txt`, { body: 'x' });
});
afterAll(() => fixture.close());
beforeEach(() => {
  driver.calls.read = 0;
  driver.calls.stat = 0;
});

describe('storage calls per download', () => {
  it('a ranged GET starting at 0 (the http client’s first request) is one read and no stat', async () => {
    const answer = await call(url, 'GET', `${A}/small.txt`, { headers: { range: 'bytes=0-8388607' } });
    expect(answer.status).toBe(206);
    expect(answer.body.toString()).toBe('0123456789');
    expect(answer.headers['content-range']).toBe('bytes 0-9/10');
    expect(answer.headers['content-length']).toBe('10');
    expect(driver.calls).toMatchObject({ read: 1, stat: 0 });
  });

  it('a later range, open-ended or bounded, is one read too', async () => {
    const open = await call(url, 'GET', `${A}/small.txt`, { headers: { range: 'bytes=4-' } });
    expect([open.status, open.body.toString(), open.headers['content-range']]).toEqual([
      206,
      '456789',
      'bytes 4-9/10',
    ]);
    const bounded = await call(url, 'GET', `${A}/small.txt`, { headers: { range: 'bytes=2-5' } });
    expect([bounded.status, bounded.body.toString(), bounded.headers['content-length']]).toEqual([
      206,
      '2345',
      '4',
    ]);
    expect(driver.calls).toMatchObject({ read: 2, stat: 0 });
  });

  it('a GET without Range is one read', async () => {
    const answer = await call(url, 'GET', `${A}/small.txt`);
    expect([answer.status, answer.body.toString()]).toEqual([200, '0123456789']);
    expect(driver.calls).toMatchObject({ read: 1, stat: 0 });
  });

  it('a range past the end, or any range of an empty file, is still 416 with the size', async () => {
    const past = await call(url, 'GET', `${A}/small.txt`, { headers: { range: 'bytes=10-20' } });
    expect([past.status, past.headers['content-range']]).toEqual([416, 'bytes */10']);
    const empty = await call(url, 'GET', `${A}/empty.txt`, { headers: { range: 'bytes=0-99' } });
    expect([empty.status, empty.headers['content-range']]).toEqual([416, 'bytes */0']);
  });

  it('a ranged GET of a directory or a missing file is 404', async () => {
    for (const path of ['dir', 'missing.txt']) {
      const answer = await call(url, 'GET', `${A}/${path}`, { headers: { range: 'bytes=0-99' } });
      expect(answer.status, path).toBe(404);
      expect(answer.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    }
  });
});

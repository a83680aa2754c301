import { describe, expect, it } from 'vitest';
import { xmlErrorDetailOr } from './store-error-headers.js';

const answer = (headers: Record<string, string>, text = '') => ({ status: 404, headers, text });

describe('xmlErrorDetailOr', () => {
  const detail = xmlErrorDetailOr({ code: 'x-ms-error-code', requestId: 'x-ms-request-id' });

  it("reads the body's <Error>, and takes from the headers what it lacks (a HEAD's answer has no body)", async () => {
    const body = '<?xml version="1.0"?><Error><Code>BlobNotFound</Code><Message>gone</Message></Error>';
    expect(
      await detail(body, answer({ 'x-ms-request-id': 'abc', 'x-ms-error-code': 'Other' }, body)),
    ).toEqual({
      code: 'BlobNotFound',
      message: 'gone',
      requestId: 'abc',
    });
    expect(await detail('', answer({ 'x-ms-error-code': 'ContainerNotFound' }))).toEqual({
      code: 'ContainerNotFound',
      message: undefined,
      requestId: undefined,
    });
  });

  it('reads no header it was not given', async () => {
    const only = xmlErrorDetailOr({ requestId: 'x-amz-request-id' });
    expect(await only('', answer({ 'x-amz-request-id': 'r', 'x-ms-error-code': 'C' }))).toEqual({
      code: undefined,
      message: undefined,
      requestId: 'r',
    });
  });
});

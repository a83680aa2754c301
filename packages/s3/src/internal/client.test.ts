import { describe, expect, it } from 'vitest';
import { sdkAttempts } from './client.js';

describe("the SDK's attempts per request", () => {
  it('is one unless the user asks for more: core retries', () => {
    expect(sdkAttempts(undefined, {})).toEqual({ maxAttempts: 1 });
    expect(sdkAttempts(undefined, { AWS_MAX_ATTEMPTS: ' ' })).toEqual({ maxAttempts: 1 });
  });

  it('the maxAttempts option wins; AWS_MAX_ATTEMPTS is left for the SDK to read', () => {
    expect(sdkAttempts(5, { AWS_MAX_ATTEMPTS: '2' })).toEqual({ maxAttempts: 5 });
    expect(sdkAttempts(undefined, { AWS_MAX_ATTEMPTS: '2' })).toEqual({});
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { deprecationOnce, forgetDeprecation } from './warn-once.js';

afterEach(() => {
  vi.restoreAllMocks();
  forgetDeprecation('TEST_A');
  forgetDeprecation('TEST_B');
});

describe('deprecationOnce', () => {
  it('warns once per code, as a DeprecationWarning with that code; forgetting lets it warn again', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    deprecationOnce('TEST_A', 'A is deprecated');
    deprecationOnce('TEST_A', 'A is deprecated');
    deprecationOnce('TEST_B', 'B is deprecated');
    expect(warn.mock.calls).toEqual([
      ['A is deprecated', { type: 'DeprecationWarning', code: 'TEST_A' }],
      ['B is deprecated', { type: 'DeprecationWarning', code: 'TEST_B' }],
    ]);
    forgetDeprecation('TEST_A');
    deprecationOnce('TEST_A', 'A is deprecated');
    expect(warn).toHaveBeenCalledTimes(3);
  });
});

import { validateArtifactPath } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { AWKWARD_NAMES, HOSTILE_PATHS } from './path-corpus.js';

describe('path corpus', () => {
  it.each(HOSTILE_PATHS.map((path) => [JSON.stringify(path), path]))(
    "core's validator refuses %s",
    (_, path) => {
      expect(() => validateArtifactPath(path)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    },
  );

  it("every awkward name is a valid artifact path that core's validator keeps as is", () => {
    for (const name of AWKWARD_NAMES) expect(validateArtifactPath(name)).toBe(name);
  });
});

/**
 * `@artifacts/integration/resolved-modules`, for a test fixture run in a fresh process (the s3 and gcs
 * suites' "no SDK loaded" fixtures): which modules the code under test resolves. Imports nothing but
 * node:module, so the fixture's own imports add nothing to what it records.
 */
import { registerHooks } from 'node:module';

/**
 * Records, from now on, every module specifier resolved in this process that `pattern` matches (a
 * client library's packages): call it before importing the code under test, print the set at the end.
 */
export function recordResolved(pattern: RegExp): Set<string> {
  const seen = new Set<string>();
  registerHooks({
    resolve(specifier, context, next) {
      if (pattern.test(specifier)) seen.add(specifier);
      return next(specifier, context);
    },
  });
  return seen;
}

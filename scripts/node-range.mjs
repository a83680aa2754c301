// The subset of semver ranges the packages' `engines.node` use: `||` of space-separated `>=x.y.z`,
// `^x.y.z` and `<x.y.z` comparators. Shared by test-node-matrix.mjs and check-packages.mjs.

/** `'22.12.0'` → `[22, 12, 0]`. */
export function parseVersion(version) {
  return version.split('.').map(Number);
}

export function compareVersions(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** True when `version` (`x.y.z`) is inside `range`; throws on a comparator it does not know. */
export function satisfies(version, range) {
  const v = parseVersion(version);
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .split(/\s+/)
      .every((comparator) => {
        const m = /^(>=|\^|<)(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(comparator);
        if (!m)
          throw new Error(
            `unsupported engines comparator ${JSON.stringify(comparator)} in ${JSON.stringify(range)}`,
          );
        const bound = [Number(m[2]), Number(m[3] ?? 0), Number(m[4] ?? 0)];
        if (m[1] === '>=') return compareVersions(v, bound) >= 0;
        if (m[1] === '<') return compareVersions(v, bound) < 0;
        return v[0] === bound[0] && compareVersions(v, bound) >= 0;
      }),
  );
}

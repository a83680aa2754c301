// Checks what every published package promises beyond its code (run by `pnpm test` after the build):
// - the same LICENSE as the repository's, listed in `files`; license, repository, homepage, bugs;
// - an `engines.node` that admits no Node one of its @artifacts dependencies refuses;
// - core's lazy-import scheme table equals the union of the first-party plugins' own `schemes`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { satisfies } from './node-range.mjs';

const root = new URL('..', import.meta.url).pathname;
const license = readFileSync(join(root, 'LICENSE'), 'utf8');
const problems = [];
const manifests = new Map();

for (const dir of readdirSync(join(root, 'packages'))) {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
  manifests.set(manifest.name, { dir, manifest });
}

// Every x.y.0 from 18 to 30 and the floors we name: enough to compare ranges of this form.
const probes = [
  ...Array.from({ length: 13 }, (_, i) => `${18 + i}.0.0`),
  '20.15.0',
  '20.19.0',
  '22.2.0',
  '22.12.0',
  '22.99.0',
];

for (const [name, { dir, manifest }] of manifests) {
  if (manifest.private) continue;
  const say = (problem) => problems.push(`${name}: ${problem}`);
  let own;
  try {
    own = readFileSync(join(root, 'packages', dir, 'LICENSE'), 'utf8');
  } catch {
    own = undefined;
  }
  if (own !== license) say(`packages/${dir}/LICENSE is missing or differs from the repository's LICENSE`);
  if (!manifest.files?.includes('LICENSE')) say('"files" does not list LICENSE');
  if (manifest.license !== 'Apache-2.0')
    say(`license is ${JSON.stringify(manifest.license)}, not Apache-2.0`);
  if (manifest.repository?.directory !== `packages/${dir}` || !manifest.repository?.url)
    say('repository needs a url and directory "packages/<dir>"');
  if (!manifest.homepage) say('no homepage');
  if (!manifest.bugs?.url) say('no bugs.url');
  const range = manifest.engines?.node;
  if (!range) {
    say('no engines.node');
    continue;
  }
  const deps = { ...manifest.dependencies, ...manifest.peerDependencies };
  for (const dep of Object.keys(deps)) {
    const depRange = manifests.get(dep)?.manifest.engines?.node;
    if (!depRange) continue;
    const refused = probes.filter((v) => satisfies(v, range) && !satisfies(v, depRange));
    // An optional peer (a backend the CLI loads when installed) may need a newer Node than the CLI.
    const optional = manifest.peerDependenciesMeta?.[dep]?.optional === true;
    if (refused.length > 0 && !optional)
      say(`engines.node ${range} admits Node ${refused.join(', ')}, which ${dep} (${depRange}) refuses`);
  }
}

// The scheme table: import the built first-party backends (each registers itself) and compare.
const core = await import(pathToFileURL(join(root, 'packages', 'core', 'dist', 'index.js')).href);
const table = core.FIRST_PARTY_BACKENDS;
const served = new Map();
for (const [name, { dir, manifest }] of manifests) {
  // A backend: depends on core and is neither the command nor the server (nor core, testkit).
  if (!manifest.dependencies?.['@artifacts/core'] || ['@artifacts/cli', '@artifacts/server'].includes(name))
    continue;
  const before = new Set(core.registeredSchemes());
  await import(pathToFileURL(join(root, 'packages', dir, 'dist', 'index.js')).href);
  for (const scheme of core.registeredSchemes()) if (!before.has(scheme)) served.set(scheme, name);
}
for (const [scheme, pkg] of Object.entries(table)) {
  if (served.get(scheme) !== pkg)
    problems.push(
      `FIRST_PARTY_BACKENDS maps ${scheme}: to ${pkg}, but ${served.get(scheme) ?? 'no plugin'} serves it`,
    );
}
for (const [scheme, pkg] of served) {
  if (table[scheme] !== pkg)
    problems.push(`${pkg} serves ${scheme}: but FIRST_PARTY_BACKENDS does not lazy-load it`);
  if ((await core.resolveBackend(scheme)).name !== pkg)
    problems.push(`${scheme}: resolves to another plugin than ${pkg}`);
}
// Every scheme core's parser gives its own URI shape to is served by some first-party plugin.
for (const scheme of ['s3', 's3a', 's3n', 'gs', 'wasbs', 'wasb', 'abfss', 'abfs', 'adl', 'oss', 'r2']) {
  if (core.isObjectStoreScheme(scheme) && !served.has(scheme))
    problems.push(`core parses ${scheme}: URIs as an object store, but no first-party plugin serves them`);
}

if (problems.length > 0) {
  console.error(`check-packages: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `check-packages: ${[...manifests.values()].filter((m) => !m.manifest.private).length} packages, ${served.size} first-party schemes: OK`,
);

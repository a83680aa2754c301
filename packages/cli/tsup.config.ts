import { packageConfig } from '../../tsup.base.ts';

export default [
  // The library: ESM + CJS + types. Its clean keeps the bin, which the second build writes meanwhile.
  // src/internal/select.ts loads picomatch on first use, by require() from CJS, createRequire from ESM.
  packageConfig({
    clean: ['!bin.js', '!bin.js.map', '!cli-main.js', '!cli-main.js.map'],
    esbuildOptions(options, context) {
      options.define = { ...options.define, __ARTIFACTS_CLI_FORMAT__: JSON.stringify(context.format) };
    },
  }),
  // The bin: ESM only (it uses top-level await), importing the library beside it rather than a copy.
  packageConfig({
    entry: { bin: 'src/bin.ts', 'cli-main': 'src/cli-main.ts' },
    format: ['esm'],
    dts: false,
    clean: false,
    external: ['./index.js', './cli-main.js'],
    banner: { js: '#!/usr/bin/env node' },
  }),
];

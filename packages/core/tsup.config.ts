import { packageConfig } from '../../tsup.base.ts';

export default packageConfig({
  // src/registry.ts loads backends in the format of the build it is in: import() from ESM, require() from CJS.
  esbuildOptions(options, context) {
    options.define = { ...options.define, __ARTIFACTS_CORE_FORMAT__: JSON.stringify(context.format) };
  },
});

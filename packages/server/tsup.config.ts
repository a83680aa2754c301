import { packageConfig } from '../../tsup.base.ts';

export default packageConfig({
  // src/internal/schema-compilers.ts loads fastify's compilers by require() from CJS, createRequire from ESM.
  esbuildOptions(options, context) {
    options.define = { ...options.define, __ARTIFACTS_SERVER_FORMAT__: JSON.stringify(context.format) };
  },
});

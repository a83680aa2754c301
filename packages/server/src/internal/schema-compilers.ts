import { createRequire } from 'node:module';

// tsup.config.ts defines it per output format; unset (vitest runs the source as ESM) means ESM.
declare const __ARTIFACTS_SERVER_FORMAT__: string | undefined;

type Factory = (...args: unknown[]) => unknown;
type Selector = () => Factory;

/**
 * Fastify's own schema compilers (Ajv for validation, fast-json-stringify for serialization), loaded
 * the first time a route with a schema is compiled rather than when the instance is built: our routes
 * have no schema, and fastify's default factory imports Ajv at construction, 113 of the idle server's
 * 293 modules and 5.5 MiB of its RSS (docs/benchmarks/server.md). A route someone adds to `app` with
 * a schema gets exactly what fastify would have given it: the same packages, resolved from fastify's
 * own location, with the same caching.
 */
export function lazySchemaCompilers(): {
  compilersFactory: { buildValidator: Factory; buildSerializer: Factory };
} {
  let validator: Factory | undefined;
  let serializer: Factory | undefined;
  const compilersFactory = {
    buildValidator: (...args: unknown[]) => {
      validator ??= fromFastify<Selector>('@fastify/ajv-compiler')();
      return validator(...args);
    },
    buildSerializer: (...args: unknown[]) => {
      serializer ??= fromFastify<Selector>('@fastify/fast-json-stringify-compiler')();
      return serializer(...args);
    },
  };
  return { compilersFactory };
}

/**
 * Fastify takes compilers given at construction for a user's own (Joi, TypeBox) and then leaves a
 * headers schema's names as written; these are its defaults, so it must go on lower-casing them as it
 * does for Ajv. Called on the instance just built, before any plugin copies the flags.
 */
export function asDefaultCompilers(app: object): void {
  const key = Object.getOwnPropertySymbols(app).find((s) => s.description === 'fastify.schemaController');
  const controller =
    key &&
    (app as Record<symbol, { isCustomValidatorCompiler?: boolean; isCustomSerializerCompiler?: boolean }>)[
      key
    ];
  if (controller) {
    controller.isCustomValidatorCompiler = false;
    controller.isCustomSerializerCompiler = false;
  }
}

/** A package fastify depends on, as fastify itself resolves it (pnpm keeps it out of our reach). */
function fromFastify<T>(name: string): T {
  const own =
    typeof __ARTIFACTS_SERVER_FORMAT__ === 'string' && __ARTIFACTS_SERVER_FORMAT__ === 'cjs'
      ? require
      : createRequire(import.meta.url);
  return createRequire(own.resolve('fastify'))(name) as T;
}

/**
 * `@artifacts/integration/resolved-modules`, for a test fixture run in a fresh process (the s3, gcs
 * and azure "no SDK loaded" fixtures): which modules the code under test resolves. Imports nothing
 * but node built-ins, so the fixture's own imports add nothing to what it records.
 */
import * as nodeModule from 'node:module';
import { MessageChannel } from 'node:worker_threads';

export interface ResolvedModules {
  /** The specifiers matched so far. */
  list(): Promise<string[]>;
}

type ResolveHook = (
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => unknown,
) => unknown;
type RegisterHooks = (hooks: { resolve: ResolveHook }) => unknown;

/**
 * Records, from now on, every module specifier resolved in this process that `pattern` matches (a
 * client library's packages): call it before importing the code under test, list them at the end.
 * In-thread hooks where Node has them (22.15+); before that (the unit tests' Node 20 and 22.12 runs)
 * `module.register`'s hooks, which run on the loader's thread and keep the list there until asked.
 */
export function recordResolved(pattern: RegExp): ResolvedModules {
  const registerHooks = (nodeModule as { registerHooks?: RegisterHooks }).registerHooks;
  if (registerHooks) {
    const seen = new Set<string>();
    registerHooks({
      resolve(specifier, context, next) {
        if (pattern.test(specifier)) seen.add(specifier);
        return next(specifier, context);
      },
    });
    return { list: async () => [...seen] };
  }
  const hooks = `const seen = new Set();
let pattern;
export function initialize({ port, source, flags }) {
  pattern = new RegExp(source, flags);
  port.on('message', () => port.postMessage([...seen]));
  port.unref();
}
export async function resolve(specifier, context, next) {
  if (pattern.test(specifier)) seen.add(specifier);
  return next(specifier, context);
}`;
  const { port1, port2 } = new MessageChannel();
  port1.unref();
  nodeModule.register(`data:text/javascript,${encodeURIComponent(hooks)}`, {
    data: { port: port2, source: pattern.source, flags: pattern.flags },
    transferList: [port2],
  });
  return {
    list: () =>
      new Promise<string[]>((resolve) => {
        port1.ref();
        port1.once('message', (list: string[]) => {
          port1.unref();
          resolve(list);
        });
        port1.postMessage('list');
      }),
  };
}

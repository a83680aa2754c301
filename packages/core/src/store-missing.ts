import { ArtifactsError } from './errors.js';
import { httpStatusOf } from './store-http.js';

/** Whether a store's failure says there is nothing at the name: an HTTP 404 (a store may add its codes). */
const notThere = (error: unknown): boolean => httpStatusOf(error) === 404;

/**
 * The answer of a request about one object, or undefined when the store says there is none (a
 * driver's `statObject`); any other failure passes through.
 */
export async function unlessMissing<T>(answer: Promise<T>, missing = notThere): Promise<T | undefined> {
  try {
    return await answer;
  } catch (error) {
    if (missing(error)) return undefined;
    throw error;
  }
}

/**
 * A rejection handler for a request about a copy's source: the store's "nothing there" becomes
 * `not_found` naming `uri` (the source, not the destination the call is mapped for), anything else
 * passes through. `request.catch(missingAs('gs://b/k'))`.
 */
export function missingAs(uri: string, missing = notThere): (error: unknown) => never {
  return (error) => {
    throw missing(error) ? ArtifactsError.notFound(uri, { cause: error }) : error;
  };
}

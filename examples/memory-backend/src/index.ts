import { ArtifactsError, type BackendPlugin, parseArtifactUri, registerBackend } from '@artifacts/core';
import { MemoryDriver } from './driver.js';

export { MemoryDriver } from './driver.js';

/** `mem://<store>/<prefix>`: a named in-memory store of this process. It takes no options. */
export const memoryBackend: BackendPlugin<Record<string, never>> = {
  name: 'artifacts-backend-memory',
  schemes: ['mem'],
  parse: parseArtifactUri,
  open(location, options) {
    const unknown = Object.keys(options ?? {});
    if (unknown.length > 0)
      throw ArtifactsError.invalidArgument(`mem: takes no options (got ${unknown.join(', ')})`);
    if (!location.host) throw ArtifactsError.invalidArgument('expected mem://<store>/<prefix>');
    return new MemoryDriver(location.host, location.path.replace(/^\/+|\/+$/g, ''));
  },
};

// Importing the package registers it, like a first-party backend.
registerBackend(memoryBackend);

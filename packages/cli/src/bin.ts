import { run } from './index.js';

// Ctrl-C aborts the transfers (their temporary files are removed); a second Ctrl-C kills at once.
const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    controller.abort(new DOMException(`interrupted by ${signal}`, 'AbortError'));
    process.once(signal, () => process.exit(130));
  });
}

const code = await run(process.argv.slice(2), { signal: controller.signal });
process.exitCode = code;
// Exit through the event loop so piped stdout is flushed; the timer only fires if a backend left a
// handle open.
setTimeout(() => process.exit(code), 2000).unref();

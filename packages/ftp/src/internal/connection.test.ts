import { Client } from 'basic-ftp';
import { afterEach, describe, expect, it } from 'vitest';
import { withoutTaskStacks } from './connection.js';

describe('withoutTaskStacks', () => {
  const prepare = Error.prepareStackTrace;
  afterEach(() => {
    Error.prepareStackTrace = prepare;
  });

  /** The call frames of every stack trace formatted while `client` starts one command. */
  function framesFormatted(client: Client): number {
    let frames = 0;
    Error.prepareStackTrace = (error, stack) => {
      frames += stack.length;
      return prepare ? prepare(error, stack) : String(error);
    };
    // Never connected: the command only starts (its promise is dropped with the client).
    client.ftp.handle('NOOP', () => undefined).catch(() => undefined);
    Error.prepareStackTrace = prepare;
    client.close();
    return frames;
  }

  it('starts a command without formatting a stack trace, and leaves the limit as it was', () => {
    // basic-ftp as it comes: the caller's stack, formatted for every command.
    expect(framesFormatted(new Client())).toBeGreaterThan(0);
    const limit = Error.stackTraceLimit;
    const client = new Client();
    withoutTaskStacks(client);
    expect(framesFormatted(client)).toBe(0);
    expect(Error.stackTraceLimit).toBe(limit);
  });

  it('keeps the stack of an error made after the command started', () => {
    const client = new Client();
    withoutTaskStacks(client);
    framesFormatted(client);
    expect(new Error('later').stack).toMatch(/\n\s+at /);
  });
});

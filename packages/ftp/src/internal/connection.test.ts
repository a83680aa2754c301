import { connectError } from '@artifacts/core';
import { Client, FTPError } from 'basic-ftp';
import { afterEach, describe, expect, it } from 'vitest';
import { refusedMore, withoutTaskStacks } from './connection.js';

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

describe('refusedMore', () => {
  const target = { label: 'ftp://u@h:21', host: 'h', port: 21 };
  const refused = (code: number, message: string) =>
    connectError(target, new FTPError({ code, message } as never), {
      code: 'unavailable',
      refused: 'the connection',
    });

  it("takes a 421 greeting, ProFTPD's 530 maximum of clients and an unanswered connect for the server's limit", () => {
    expect(refusedMore(refused(421, '421 16 users (the maximum) are already logged in, sorry'))).toBe(true);
    expect(refusedMore(refused(421, '421 Too many connections'))).toBe(true);
    expect(
      refusedMore(
        refused(530, '530 Sorry, the maximum number of clients (3) for this user are already connected.'),
      ),
    ).toBe(true);
    expect(refusedMore(connectError(target, new Error('Timeout (control socket)')))).toBe(true);
  });

  it('a wrong login, a refused TCP connect or a TLS failure is not that', () => {
    expect(refusedMore(refused(530, '530 Login authentication failed'))).toBe(false);
    expect(
      refusedMore(
        connectError(target, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      ),
    ).toBe(false);
    expect(
      refusedMore(
        connectError(
          target,
          Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
        ),
      ),
    ).toBe(false);
  });
});

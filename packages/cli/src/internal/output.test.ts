import { PassThrough } from 'node:stream';
import { ArtifactsError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { Output, secretsOf } from './output.js';

describe('secretsOf', () => {
  it('finds URI passwords, raw and decoded, and secret query values', () => {
    expect(secretsOf(['ls', 'sftp://me:p%40ss@host/x'])).toEqual(expect.arrayContaining(['p%40ss', 'p@ss']));
    expect(secretsOf(['cat', 'https://h/x?a=1&sig=s3cr3t&token=t0k'])).toEqual(['s3cr3t', 't0k']);
    expect(secretsOf(['ls', './plain/path', 's3://bucket/key', 'ftp://user@host/x'])).toEqual([]);
  });
});

describe('Output', () => {
  function capture() {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const text = { out: '', err: '' };
    stdout.on('data', (chunk) => (text.out += chunk));
    stderr.on('data', (chunk) => (text.err += chunk));
    return { io: { stdout, stderr }, text };
  }

  it('prints one line per error, and the cause chain with --debug, with secrets masked', () => {
    const { io, text } = capture();
    const output = new Output(io, ['hunter2']);
    const error = new ArtifactsError('unavailable', 'cannot reach host\nwith password hunter2', {
      cause: new Error('socket said hunter2'),
    });
    output.error(error, false);
    expect(text.err).toBe('artifacts: cannot reach host with password ***\n');
    text.err = '';
    output.error(error, true);
    expect(text.err).toContain('[unavailable]');
    expect(text.err).toContain('caused by: Error: socket said ***');
    expect(text.err).not.toContain('hunter2');
  });
});

import { describe, expect, it } from 'vitest';
import { engineAddresses } from '../src/containers.js';
import { isLoopback } from '../src/util.js';

// Where container servers bind and are reached, from the engine's host (no engine needed).
describe('engineAddresses', () => {
  it.each([
    '127.0.0.1',
    '127.0.0.2',
    '127.1.2.3',
    '127.255.255.254',
    'localhost',
    'LOCALHOST',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.2',
  ])(
    'an engine at %s is this machine: reached at 127.0.0.1, host-networked servers bind 127.0.0.1',
    (raw) => {
      expect(engineAddresses(raw, 'host')).toEqual({ host: '127.0.0.1', bindHost: '127.0.0.1' });
      // bridge: the server binds the container's own interfaces, the engine publishes the ports
      expect(engineAddresses(raw, 'bridge')).toEqual({ host: '127.0.0.1', bindHost: '0.0.0.0' });
    },
  );

  it.each([
    ['10.0.0.5', '10.0.0.5'],
    ['128.0.0.1', '128.0.0.1'],
    ['docker.example.test', 'docker.example.test'],
    ['127.example.test', '127.example.test'],
    ['[fd00::5]', 'fd00::5'],
    ['::ffff:10.0.0.5', '::ffff:10.0.0.5'],
  ])('an engine at %s is another machine: servers bind its interfaces and are reached there', (raw, host) => {
    expect(engineAddresses(raw, 'host')).toEqual({ host, bindHost: '0.0.0.0' });
    expect(engineAddresses(raw, 'bridge')).toEqual({ host, bindHost: '0.0.0.0' });
  });
});

describe('isLoopback', () => {
  it('is true for all of 127.0.0.0/8 and ::1 in any form, false for the rest and for names', () => {
    for (const a of [
      '127.0.0.1',
      '127.0.0.2',
      '127.9.9.9',
      '::1',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:2',
    ])
      expect(isLoopback(a), a).toBe(true);
    for (const a of [
      '0.0.0.0',
      '::',
      '128.0.0.1',
      '126.255.255.255',
      '10.0.0.1',
      '::2',
      '::ffff:10.0.0.1',
      'localhost',
      '127.x',
      '',
    ])
      expect(isLoopback(a), a).toBe(false);
  });
});

/**
 * `startInstances`, the launchers' "start every instance, stop the started ones on failure" (s3, azure
 * and gcs, native and in containers): nothing a failed start leaves behind keeps running.
 */
import { describe, expect, it } from 'vitest';
import { type Instance, started, startInstances } from '../src/util.ts';

class Fake implements Instance {
  running = false;
  restarts = 0;
  constructor(
    readonly name: string,
    private readonly fails?: Error,
  ) {}
  async start(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.fails) throw this.fails;
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
  async restart(): Promise<void> {
    this.restarts++;
  }
}

describe('startInstances', () => {
  it('starts every instance, stops and restarts them together', async () => {
    const plain = new Fake('http');
    const tls = new Fake('https');
    const setUp: string[] = [];
    const both = await startInstances([started(plain), started(tls)], async () => {
      setUp.push(`${plain.running} ${tls.running}`);
    });
    expect(both.instances).toEqual([plain, tls]);
    expect(setUp).toEqual(['true true']);
    await both.restart();
    expect([plain.restarts, tls.restarts]).toEqual([1, 1]);
    await both.stop();
    expect([plain.running, tls.running]).toEqual([false, false]);
  });

  it('when one instance cannot start, stops the one that did and throws its failure', async () => {
    const plain = new Fake('http');
    const tls = new Fake('https', new Error('https: port in use'));
    let setUp = false;
    await expect(
      startInstances([started(plain), started(tls)], async () => {
        setUp = true;
      }),
    ).rejects.toThrow('https: port in use');
    expect(plain.running).toBe(false);
    expect(setUp).toBe(false);
  });

  it('when the set-up fails, stops every instance and throws the failure named by setUpFailed', async () => {
    const plain = new Fake('http');
    const tls = new Fake('https');
    await expect(
      startInstances(
        [started(plain), started(tls)],
        async () => {
          throw new Error('403');
        },
        (error) => new Error(`creating the bucket failed: ${error.message}`),
      ),
    ).rejects.toThrow('creating the bucket failed: 403');
    expect([plain.running, tls.running]).toEqual([false, false]);
  });
});

import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * A `TcpProxy` in front of a plain-FTP server that also carries the passive data connections: each
 * `227`/`229` reply is rewritten to name a route of the proxy to the data port the server opened,
 * so file bytes are paced and stalled like the control connection's (FTPS replies are encrypted
 * and pass unseen).
 */
export function startFtpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  return startTcpProxy(target, {
    async rewriteLine(line, proxy) {
      const extended = /^229 .*\(\|\|\|(\d+)\|\)/.exec(line);
      if (extended) {
        const route = await proxy.route({ host: target.host, port: Number(extended[1]) });
        return line.replace(`|||${extended[1]}|`, `|||${route.port}|`);
      }
      const passive = /^227 .*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(line);
      if (passive) {
        const [, a, b, c, d, hi, lo] = passive.map(Number) as number[];
        const route = await proxy.route({ host: `${a}.${b}.${c}.${d}`, port: hi! * 256 + lo! });
        const named = `${route.host.replaceAll('.', ',')},${route.port >> 8},${route.port & 255}`;
        return line.replace(passive.slice(1).join(','), named);
      }
      return line;
    },
  });
}

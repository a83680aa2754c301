import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy saw it. */
export interface ProxiedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The first byte of a `Range: bytes=N-` request, else undefined. */
  rangeStart: number | undefined;
}

/** What the proxy does to one request instead of (or while) forwarding it. */
export interface HttpFault {
  /** Answer this status (with `headers` and `body`) instead of forwarding; the request is drained. */
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Accept the request and never answer (a stalled server); the sockets stay open until close. */
  stall?: boolean;
  /** Cut the connection once this fraction (0–1) of the request body has arrived. */
  cutRequest?: number;
  /** Cut the connection once this fraction (0–1) of the answer's body has been sent. */
  cutResponse?: number;
  /** Flip one byte of the request body (in its first chunk over 1 KiB, past any chunk framing). */
  corruptRequest?: boolean;
  /** Flip one byte in a 2xx answer's body. */
  corruptResponse?: boolean;
  /** Hold the answer this long before sending it. */
  delayMs?: number;
  /**
   * Edit the answer's headers in place before they are sent (the body passes unchanged): what a
   * server says of a state the real one never reports on demand (a copy still `pending`).
   */
  answerHeaders?: (headers: IncomingHttpHeaders) => void;
  /** Awaited before the request is forwarded (an overwrite mid-download). */
  before?: () => Promise<void>;
}

export interface HttpFaultWhen {
  /** Which requests count. Default: every one. */
  match?: (request: ProxiedRequest) => boolean;
  /** Fires on the nth matching request from now (1 = the next). Default 1. */
  nth?: number;
  /** How many matching requests it applies to, from the nth. Default 1; `Infinity` = every one. */
  times?: number;
}

/**
 * An HTTP proxy in front of a real server that records every request and injects the faults a
 * healthy server never produces on demand: a status for the nth request, a body cut mid-way (either
 * direction), a corrupted byte, a delay, a stall, an answer's headers edited. Host headers pass unchanged, so signatures made for
 * the proxy's address (SigV4) still verify at the server.
 */
export interface HttpFaultProxy {
  /** `http://127.0.0.1:<port>`: point the client here instead of at the server. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Every request so far, in arrival order (the array is kept: clear it with `length = 0`). */
  readonly requests: ProxiedRequest[];
  /** Adds a fault; the first rule that fires on a request wins. Returns a handle to remove it. */
  inject(fault: HttpFault, when?: HttpFaultWhen): { readonly hits: number; remove(): void };
  /** Removes every injected fault. */
  clear(): void;
  close(): Promise<void>;
}

interface Rule {
  fault: HttpFault;
  match: (request: ProxiedRequest) => boolean;
  skip: number;
  left: number;
  hits: number;
}

function flipMiddle(chunk: Buffer): Buffer {
  const copy = Buffer.from(chunk);
  copy[copy.length >> 1]! ^= 0xff;
  return copy;
}

/**
 * Starts the proxy in front of `target` (`http://host:port`). `decide`, when given, is asked first
 * for each request's fault (undefined: the injected rules decide).
 */
export async function startHttpFaultProxy(
  target: string,
  decide?: (request: ProxiedRequest) => HttpFault | undefined,
): Promise<HttpFaultProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  let rules: Rule[] = [];

  const ruled = (request: ProxiedRequest): HttpFault | undefined => {
    for (const rule of rules) {
      if (rule.left <= 0 || !rule.match(request)) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      rule.left--;
      rule.hits++;
      return rule.fault;
    }
    return undefined;
  };

  const server: Server = createServer((req, res) => {
    const start = /^bytes=(\d+)-/.exec(String(req.headers.range ?? ''))?.[1];
    const request: ProxiedRequest = {
      method: req.method ?? '',
      url: req.url ?? '/',
      headers: req.headers,
      rangeStart: start === undefined ? undefined : Number(start),
    };
    requests.push(request);
    const fault = decide?.(request) ?? ruled(request) ?? {};
    if (fault.stall) return;
    if (fault.status !== undefined) {
      req.resume();
      const answer = () => res.writeHead(fault.status!, fault.headers).end(fault.body);
      if (fault.delayMs) setTimeout(answer, fault.delayMs);
      else answer();
      return;
    }
    const forward = () => {
      const upstreamReq = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          const send = () => {
            const headers = fault.answerHeaders ? { ...answer.headers } : answer.headers;
            fault.answerHeaders?.(headers);
            res.writeHead(answer.statusCode ?? 502, headers);
            const ok = (answer.statusCode ?? 0) >= 200 && (answer.statusCode ?? 0) < 300;
            let flip = fault.corruptResponse === true && ok;
            const cutAt =
              fault.cutResponse === undefined
                ? undefined
                : Number(answer.headers['content-length'] ?? 0) * fault.cutResponse;
            let sent = 0;
            answer.on('data', (chunk: Buffer) => {
              if (cutAt !== undefined && sent + chunk.length >= cutAt) {
                res.write(chunk.subarray(0, Math.max(0, cutAt - sent)));
                answer.destroy();
                res.socket?.destroy();
                return;
              }
              sent += chunk.length;
              if (flip && chunk.length > 1) {
                flip = false;
                res.write(flipMiddle(chunk));
              } else res.write(chunk);
            });
            answer.on('end', () => res.end());
            answer.on('error', () => res.destroy());
          };
          if (fault.delayMs) setTimeout(send, fault.delayMs);
          else send();
        },
      );
      upstreamReq.on('error', () => res.destroy());
      let flip = fault.corruptRequest === true;
      const cutAt =
        fault.cutRequest === undefined
          ? undefined
          : Number(req.headers['content-length'] ?? 2) * fault.cutRequest;
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (cutAt !== undefined && seen >= cutAt) {
          upstreamReq.destroy();
          req.socket.destroy();
          return;
        }
        if (flip && chunk.length > 1024) {
          flip = false;
          upstreamReq.write(flipMiddle(chunk));
        } else upstreamReq.write(chunk);
      });
      req.on('end', () => upstreamReq.end());
      // A request held by `before` was paused explicitly, and a 'data' listener does not resume
      // such a stream: without this its end never came and the upstream request was never sent.
      req.resume();
    };
    if (fault.before) {
      req.pause();
      fault.before().then(forward, () => res.destroy());
    } else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    requests,
    inject(fault, when = {}) {
      const rule: Rule = {
        fault,
        match: when.match ?? (() => true),
        skip: (when.nth ?? 1) - 1,
        left: when.times ?? 1,
        hits: 0,
      };
      rules.push(rule);
      return {
        get hits() {
          return rule.hits;
        },
        remove: () => {
          rules = rules.filter((r) => r !== rule);
        },
      };
    },
    clear() {
      rules = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

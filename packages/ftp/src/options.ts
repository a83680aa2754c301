/** How the FTP control and data connections are protected. */
export type FtpTlsMode = 'none' | 'explicit' | 'implicit';

/**
 * Options of `openRepository('ftp://…' | 'ftps://…', options)`. Each falls back to its environment
 * variable, then to the default shown.
 */
export interface FtpOptions {
  /** Login name. Default: the URI's user name, else `ARTIFACTS_FTP_USER`, else `anonymous`. */
  username?: string;
  /**
   * Password. Default: the URI's password (percent-decoded), else `ARTIFACTS_FTP_PASSWORD`, else
   * `anonymous@` for anonymous logins. Never printed.
   */
  password?: string;
  /**
   * `explicit`: plain connection upgraded with AUTH TLS (FTPES, same port as FTP); `implicit`: TLS
   * from the first byte (port 990); `none`: plain FTP (passwords and data travel in clear). Default:
   * `implicit` for `ftps://` URIs; for `ftp://`, `ARTIFACTS_FTP_TLS` (`explicit`, `implicit`,
   * `none`, or a boolean: true = explicit), else `none`.
   */
  tls?: FtpTlsMode | boolean;
  /**
   * Trusted CA certificate(s), PEM, for a server whose certificate no public CA signed. Default:
   * the contents of `caFile`.
   */
  ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** A PEM file of trusted CA certificates. Default: `ARTIFACTS_FTP_CA_FILE`, else Node's CA store. */
  caFile?: string;
  /**
   * Verify the server's TLS certificate and host name. Default: `ARTIFACTS_FTP_TLS_VERIFY`, else
   * `true`. Turning it off accepts any server, including an attacker in the middle.
   */
  tlsVerify?: boolean;
  /**
   * Connections open at once to the server, at most (each carries one transfer at a time). Default:
   * `ARTIFACTS_FTP_MAX_CONNECTIONS`, else 4. Opened only when needed.
   */
  maxConnections?: number;
  /**
   * A control or data connection silent for this long (ms) fails the operation. Default:
   * `ARTIFACTS_FTP_SOCKET_TIMEOUT_MS`, else 30000.
   */
  socketTimeoutMs?: number;
  /**
   * An idle connection is closed after this many ms (0 = keep until `repo.close()`). Default:
   * `ARTIFACTS_FTP_IDLE_TIMEOUT_MS`, else 60000 (servers drop idle sessions themselves, often
   * after a few minutes).
   */
  idleTimeoutMs?: number;
}

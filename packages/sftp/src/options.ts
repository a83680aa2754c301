/**
 * Options of `openRepository('sftp://…', options)`. Each falls back to its environment variable,
 * then to `~/.ssh/config` where OpenSSH has a matching keyword, then to the default shown.
 */
export interface SftpOptions {
  /**
   * Login name. Default: the URI's user name, else `User` from `~/.ssh/config`, else
   * `ARTIFACTS_SFTP_USER`, else the local user name.
   */
  username?: string;
  /**
   * Password (also used to answer keyboard-interactive prompts). Default: the URI's password, else
   * `ARTIFACTS_SFTP_PASSWORD`. Never printed.
   */
  password?: string;
  /** A private key's contents (OpenSSH, PEM or PPK), tried before identity files. */
  privateKey?: string | Uint8Array;
  /**
   * Private key file(s) to offer. Default: `ARTIFACTS_SFTP_IDENTITY_FILE` (several separated by
   * commas), else `IdentityFile` from `~/.ssh/config`, else those of `~/.ssh/id_rsa`,
   * `~/.ssh/id_ecdsa`, `~/.ssh/id_ed25519` that exist. `[]` (or `none` in the variable) offers no
   * key file.
   */
  identityFile?: string | readonly string[];
  /** Passphrase of encrypted private keys. Default: `ARTIFACTS_SFTP_KEY_PASSPHRASE`. */
  passphrase?: string;
  /**
   * SSH agent socket, or `false` for none. Default: `ARTIFACTS_SFTP_AGENT`, else `IdentityAgent`
   * from `~/.ssh/config`, else `SSH_AUTH_SOCK`.
   */
  agent?: string | false;
  /**
   * OpenSSH client configuration file, or `false` to read none. Default: `ARTIFACTS_SFTP_CONFIG`
   * (`none` = read none), else `~/.ssh/config`. `Match exec` lines are never run.
   */
  sshConfig?: string | false;
  /**
   * known_hosts file(s) holding the trusted host keys. Default: `ARTIFACTS_SFTP_KNOWN_HOSTS`
   * (several separated by commas), else `UserKnownHostsFile` from `~/.ssh/config`, else
   * `~/.ssh/known_hosts`, `~/.ssh/known_hosts2` and `/etc/ssh/ssh_known_hosts`.
   */
  knownHosts?: string | readonly string[];
  /**
   * Trust only host keys with these SHA256 fingerprints (`SHA256:…`, as `ssh-keygen -lf` prints);
   * known_hosts is then not consulted. Default: `ARTIFACTS_SFTP_HOST_FINGERPRINT` (commas
   * separate several), else none.
   */
  hostFingerprint?: string | readonly string[];
  /**
   * Verify the server's host key. Default: `ARTIFACTS_SFTP_STRICT_HOST_KEY_CHECKING`, else `false`
   * only when `~/.ssh/config` says `StrictHostKeyChecking no`, else `true`. Turning it off accepts
   * any server, including an attacker in the middle.
   */
  strictHostKeyChecking?: boolean;
  /**
   * Connections open at once to the server, at most. Default: `ARTIFACTS_SFTP_MAX_CONNECTIONS`,
   * else 4. Opened only when needed.
   */
  maxConnections?: number;
  /**
   * Operations one connection carries at once (SFTP multiplexes requests on one channel).
   * Default: `ARTIFACTS_SFTP_OPERATIONS_PER_CONNECTION`, else 8. Operations beyond
   * `maxConnections × operationsPerConnection` wait.
   */
  operationsPerConnection?: number;
  /**
   * SFTP read or write requests in flight per file transfer. Default:
   * `ARTIFACTS_SFTP_REQUESTS_PER_TRANSFER`, else 16.
   */
  requestsPerTransfer?: number;
  /**
   * Bytes per SFTP read or write request (capped by what the server announces). Default:
   * `ARTIFACTS_SFTP_CHUNK_SIZE`, else 131072.
   */
  chunkSize?: number;
  /**
   * How long opening a connection (TCP + handshake + authentication) may take, in ms. Default:
   * `ARTIFACTS_SFTP_CONNECT_TIMEOUT_MS`, else `ConnectTimeout` from `~/.ssh/config`, else 20000.
   */
  connectTimeoutMs?: number;
  /**
   * SSH keepalive interval in ms (0 = off); a connection that misses 3 is closed. Default:
   * `ARTIFACTS_SFTP_KEEPALIVE_INTERVAL_MS`, else `ServerAliveInterval` from `~/.ssh/config`, else
   * 15000.
   */
  keepaliveIntervalMs?: number;
  /**
   * An idle connection is closed after this many ms (0 = keep until `repo.close()`). Default:
   * `ARTIFACTS_SFTP_IDLE_TIMEOUT_MS`, else 60000.
   */
  idleTimeoutMs?: number;
}

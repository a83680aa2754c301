/**
 * Options of `openRepository('sftp://…', options)`, derived from the settings declaration: each
 * falls back to its environment variable, then to `~/.ssh/config` where OpenSSH has a matching
 * keyword, then to its default (the README's table, generated from the same declaration, says what
 * each does).
 */
export type { SftpOptions } from './internal/settings.js';

/**
 * Options of `openRepository('ftp://…' | 'ftps://…', options)`, derived from the settings
 * declaration: each falls back to its environment variable, then to its default (the README's
 * table, generated from the same declaration, says what each does).
 */
export type { FtpOptions, FtpTlsMode } from './internal/settings.js';

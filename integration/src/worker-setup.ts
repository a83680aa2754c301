/** setupFile added by integrationConfig(): copies the servers' env provided by globalSetup into process.env. */
import { inject } from 'vitest';

const env = inject('artifactsItEnv');
if (env) for (const [k, v] of Object.entries(env)) if (process.env[k] === undefined) process.env[k] = v;

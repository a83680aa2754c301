// HEALTHCHECK of the artifacts-serve image: GET /health on the configured port (HTTPS when
// ARTIFACTS_SERVER_TLS_CERT is set; the certificate is the server's own, not checked here).
import { request as http } from 'node:http';
import { request as https } from 'node:https';

const tls = Boolean(process.env.ARTIFACTS_SERVER_TLS_CERT);
const host = process.env.ARTIFACTS_SERVER_HOST;
const target = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
const req = (tls ? https : http)(
  {
    host: target,
    port: Number(process.env.ARTIFACTS_SERVER_PORT || 5000),
    path: '/health',
    timeout: 4000,
    rejectUnauthorized: false,
  },
  (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
req.on('timeout', () => req.destroy());
req.on('error', () => process.exit(1));
req.end();

'use strict';

// A throwaway CA and a server certificate for 127.0.0.1, ::1 and localhost,
// made at test time so no key material is ever committed.
const selfsigned = require('selfsigned');

const ONE_DAY_MS = 24 * 60 * 60 * 1000;

// ECDSA P-256 with SHA-256: fast to generate, and accepted by Node's TLS and by rustls/webpki
// (selfsigned's default signature, SHA-1, is not).
function certificateOptions(extensions) {
  const now = Date.now();
  return {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    // Back-dated a little so a skewed clock does not make the certificate "not yet valid".
    notBeforeDate: new Date(now - ONE_DAY_MS),
    notAfterDate: new Date(now + 7 * ONE_DAY_MS),
    extensions,
  };
}

async function generateTls() {
  const ca = await selfsigned.generate(
    [{ name: 'commonName', value: 'backend-scripts test CA' }],
    certificateOptions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ]),
  );
  const server = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    ...certificateOptions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ]),
    ca: { key: ca.private, cert: ca.cert },
  });
  return { caPem: ca.cert, certPem: server.cert, keyPem: server.private };
}

let cached;

/**
 * The test TLS material, generated once per test file (Jest gives each file its own module scope).
 * @returns {Promise<{ caPem: string, certPem: string, keyPem: string }>}
 */
function getTls() {
  cached ??= generateTls();
  return cached;
}

module.exports = { getTls };

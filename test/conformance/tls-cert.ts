// The certificate the upstream suite generates at run time for Secret
// gateway-conformance-infra/tls-validity-checks-certificate: self-signed for `*`, `*.org` and
// `*.wildcard.org`, made in this process (the key never leaves it), plus Go-style hostname matching
// for clients, since Node refuses `*` and `*.tld` wildcards that Go's verifier accepts.
// @peculiar/x509 needs the Reflect metadata polyfill loaded before it (its DI container checks at import).
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { ConformanceClientError } from './errors.ts';

export const CONFORMANCE_CERT_SECRET = { namespace: 'gateway-conformance-infra', name: 'tls-validity-checks-certificate' } as const;
export const CONFORMANCE_CERT_HOSTS = ['*', '*.org', '*.wildcard.org'] as const;

export interface GeneratedCertificate {
  /** PEM certificate (also the CA to trust: it is self-signed). */
  cert: string;
  /** PEM PKCS#8 private key; pass it only to servers in this process. */
  key: string;
  hosts: readonly string[];
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64.endsWith('\n') ? b64 : b64 + '\n'}-----END ${label}-----\n`;
}

/** Generates a fresh self-signed ECDSA P-256 certificate for `hosts` (default: the suite's three names). */
export async function generateConformanceCertificate(hosts: readonly string[] = CONFORMANCE_CERT_HOSTS): Promise<GeneratedCertificate> {
  const crypto = webcrypto;
  x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=gateway-conformance-tls-validity-checks, O=weft conformance harness',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: alg,
    keys: keys as any,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...hosts.map((value) => ({ type: 'dns' as const, value })), { type: 'ip', value: '127.0.0.1' }]),
    ],
  });
  const keyDer = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem') + '\n', key: pem('PRIVATE KEY', keyDer), hosts };
}

/** Go's crypto/x509 hostname rule: same label count, `*` only as the whole leftmost label. */
export function goHostnameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '').split('.');
  const h = host.toLowerCase().replace(/\.$/, '').split('.');
  if (p.length !== h.length || p.some((l) => l === '')) return false;
  for (let i = 0; i < p.length; i++) {
    if (i === 0 && p[i] === '*') continue;
    if (p[i] !== h[i]) return false;
  }
  return true;
}

/** A `checkServerIdentity` for node:tls that accepts what Go's verifier accepts (chain is still verified). */
export function goStyleServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const names = (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  if (names.some((n) => goHostnameMatches(n, host))) return undefined;
  if (cert.raw !== undefined && new X509Certificate(cert.raw).checkIP(host) !== undefined) return undefined;
  return new ConformanceClientError(`certificate names [${names.join(', ')}] do not cover ${host}`);
}

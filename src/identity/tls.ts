// node:tls helpers for mTLS between workloads: TLS 1.3, chain verified against the trust bundle (any
// root), then the peer's SPIFFE ID checked instead of a hostname. One SecureContext per material.
import { tls } from '../core/tls-module.ts';
import type { PeerCertificate, TLSSocket, SecureContext, TlsOptions, ConnectionOptions, Server as TlsServer } from 'node:tls';
import { err, ok, type Result } from '../core/result.ts';
import type { Watch } from '../core/watch.ts';
import { IdentityError } from './errors.ts';
import type { IdentityMaterial } from './material.ts';
import { spiffeUrisOfSubjectAltName, trustDomainOf, tryParseSpiffeId, type SpiffeId } from './spiffe.ts';

/**
 * Which peers are acceptable. A string is one exact SPIFFE ID. Otherwise: `ids` (exact IDs, any of),
 * `trustDomain` (default: the local material's), `match` (custom predicate, applied last).
 */
export type PeerExpectation =
  | string
  | {
      readonly trustDomain?: string;
      readonly ids?: readonly string[];
      readonly match?: (peer: SpiffeId) => boolean;
    };

const contexts = new WeakMap<IdentityMaterial, SecureContext>();

/** The SecureContext for a material, built once and cached for the material object's lifetime. */
export function secureContextFor(material: IdentityMaterial): SecureContext {
  let ctx = contexts.get(material);
  if (ctx === undefined) {
    ctx = tls.createSecureContext({
      key: material.keyPem,
      cert: material.certChainPem,
      ca: material.trustBundlePem,
      minVersion: 'TLSv1.3',
    });
    contexts.set(material, ctx);
  }
  return ctx;
}

function peerIdFromCert(cert: PeerCertificate | undefined): Result<SpiffeId, IdentityError> {
  if (!cert || !cert.raw) return err(new IdentityError('IDENTITY_PEER_REJECTED', 'the peer presented no certificate'));
  const spiffe = spiffeUrisOfSubjectAltName(cert.subjectaltname);
  if (spiffe.length !== 1) {
    return err(new IdentityError('IDENTITY_PEER_REJECTED', `the peer certificate must carry exactly one spiffe:// URI SAN (found ${spiffe.length})`));
  }
  const id = tryParseSpiffeId(spiffe[0]!);
  if (!id) return err(new IdentityError('IDENTITY_PEER_REJECTED', `the peer SPIFFE ID "${spiffe[0]}" is not a workload ID`));
  return ok(id);
}

/** Checks a verified peer SPIFFE ID against an expectation; `localTrustDomain` is the default domain. */
export function checkPeerId(id: SpiffeId, expectation: PeerExpectation | undefined, localTrustDomain: string | undefined): Result<SpiffeId, IdentityError> {
  if (typeof expectation === 'string') {
    return id.uri === expectation ? ok(id) : err(new IdentityError('IDENTITY_PEER_REJECTED', `peer is ${id.uri}, expected ${expectation}`));
  }
  const td = expectation?.trustDomain ?? localTrustDomain;
  if (td !== undefined && id.trustDomain !== td) {
    return err(new IdentityError('IDENTITY_PEER_REJECTED', `peer ${id.uri} is in trust domain "${id.trustDomain}", expected "${td}"`));
  }
  if (expectation?.ids && !expectation.ids.includes(id.uri)) {
    return err(new IdentityError('IDENTITY_PEER_REJECTED', `peer ${id.uri} is not one of the allowed identities`));
  }
  if (expectation?.match && !expectation.match(id)) {
    return err(new IdentityError('IDENTITY_PEER_REJECTED', `peer ${id.uri} is not allowed by policy`));
  }
  return ok(id);
}

/**
 * After a handshake: the chain must have verified against the bundle (`socket.authorized`) and the
 * peer's SPIFFE ID must satisfy `expectation` (default: same trust domain as the local identity).
 */
export function verifyPeerSpiffeId(socket: TLSSocket, expectation?: PeerExpectation, localTrustDomain?: string): Result<SpiffeId, IdentityError> {
  if (!socket.authorized) {
    return err(new IdentityError('IDENTITY_PEER_REJECTED', `peer certificate not trusted: ${String(socket.authorizationError ?? 'no certificate')}`));
  }
  const id = peerIdFromCert(socket.getPeerCertificate());
  if (!id.ok) return id;
  return checkPeerId(id.value, expectation, localTrustDomain);
}

/** The SPIFFE ID of the (already verified) peer of a socket, or undefined. */
export function peerSpiffeId(socket: TLSSocket): string | undefined {
  const id = peerIdFromCert(socket.getPeerCertificate());
  return id.ok ? id.value.uri : undefined;
}

export interface ServerTlsOptionsInput {
  /** Which clients may connect (default: any workload of the local trust domain). */
  allowedPeers?: PeerExpectation;
}

/**
 * Options for `tls.createServer`: TLS 1.3, client certificates required and verified against the bundle.
 * The SPIFFE ID check happens after the handshake: use `guardServer` (or call verifyPeerSpiffeId yourself).
 */
export function serverTlsOptions(material: IdentityMaterial, _options: ServerTlsOptionsInput = {}): TlsOptions {
  return {
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.trustBundlePem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
  };
}

export interface ClientTlsOptionsInput {
  /** Which server identity is acceptable (default: any workload of the local trust domain). */
  expectedPeer?: PeerExpectation;
  /** SNI to send (optional; SPIFFE verification never looks at it). */
  servername?: string;
}

/**
 * Options for `tls.connect`: the cached SecureContext of `material`, TLS 1.3, and a checkServerIdentity
 * that checks the server's SPIFFE ID (trust domain, exact ID where given) instead of a hostname.
 */
export function clientTlsOptions(material: IdentityMaterial, options: ClientTlsOptionsInput = {}): ConnectionOptions {
  const localTd = trustDomainOf(material.spiffeId);
  const expectation = options.expectedPeer;
  return {
    secureContext: secureContextFor(material),
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    ...(options.servername ? { servername: options.servername } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const id = peerIdFromCert(cert);
      if (!id.ok) return id.error;
      const checked = checkPeerId(id.value, expectation, localTd);
      return checked.ok ? undefined : checked.error;
    },
  };
}

export interface GuardOptions {
  allowedPeers?: PeerExpectation;
  /** Called for each connection refused after the handshake (wrong SPIFFE ID). */
  onReject?: (error: IdentityError, socket: TLSSocket) => void;
  /** Called for each connection whose peer passed the SPIFFE check, with the peer's ID. */
  onAccept?: (socket: TLSSocket, peer: SpiffeId) => void;
}

/**
 * Makes a tls.Server enforce SPIFFE peer checks and follow identity changes: on each new material the
 * server's SecureContext is replaced (`setSecureContext`), so renewals and bundle changes apply to new
 * connections without a restart. Returns a function that stops following the watch.
 */
export function guardServer(server: TlsServer, materials: Watch<IdentityMaterial | undefined>, options: GuardOptions = {}): () => void {
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const current = materials.current;
    const result = verifyPeerSpiffeId(socket, options.allowedPeers, current ? trustDomainOf(current.spiffeId) : undefined);
    if (!result.ok) {
      options.onReject?.(result.error, socket);
      socket.destroy();
      return;
    }
    options.onAccept?.(socket, result.value);
  });
  let applied: IdentityMaterial | undefined;
  return materials.subscribe(
    (material) => {
      if (material === undefined || material === applied) return;
      applied = material;
      server.setSecureContext(serverTlsOptions(material));
    },
    { now: true },
  );
}

/** Convenience: a tls.Server speaking mTLS with the current material of `materials` (must be set). */
export function createSpiffeServer(
  materials: Watch<IdentityMaterial | undefined>,
  options: Omit<GuardOptions, 'onAccept'>,
  onConnection: (socket: TLSSocket, peer: SpiffeId) => void,
): TlsServer {
  const material = materials.current;
  if (material === undefined) throw new IdentityError('IDENTITY_UNAVAILABLE', 'no identity material yet: wait for the workload client to enrol');
  const server = tls.createServer(serverTlsOptions(material));
  guardServer(server, materials, { ...options, onAccept: onConnection });
  return server;
}

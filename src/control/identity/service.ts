// The identity gRPC service on the control plane's port: Certify (CSR + workload token → leaf, chain,
// bundle) and SyncTrustBundle (bundle pushes and acks, which drive step 2 of root rotation).
import * as grpc from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import { IdentityError, grpcStatusFor } from '../../identity/errors.ts';
import { identityServiceClient, type BundleAckMsg, type CertifyRequestMsg, type CertifyResponseMsg, type TrustBundleMsg } from '../../identity/proto.ts';
import type { BundleInfo, BundleSession, IdentityAuthority } from './authority.ts';

function toStatus(error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof IdentityError) return { code: grpcStatusFor(error.code), details: `${error.code}: ${error.message}` };
  return { code: grpc.status.INTERNAL, details: 'internal error in the identity service' };
}

function bundleMsg(b: BundleInfo): TrustBundleMsg {
  return { version: String(b.version), pem: b.pem, issuing_root_id: b.issuingRootId };
}

function tokenOf(credential: CertifyRequestMsg['credential']): string {
  if (credential?.kubernetes_sa_token) {
    throw new IdentityError('IDENTITY_TOKEN_INVALID', 'Kubernetes service-account tokens are not accepted yet; use a workload token from `weft identity token`');
  }
  return credential?.workload_token ?? '';
}

/** Adds the weft.identity.v1.Identity service, backed by `authority`, to an existing gRPC server. */
export function addIdentityService(server: grpc.Server, authority: IdentityAuthority): void {
  const service = identityServiceClient().service;
  server.addService(service, {
    Certify: (call: grpc.ServerUnaryCall<CertifyRequestMsg, CertifyResponseMsg>, callback: grpc.sendUnaryData<CertifyResponseMsg>) => {
      const req = call.request;
      let token: string;
      try {
        token = tokenOf(req.credential);
      } catch (error) {
        callback(toStatus(error));
        return;
      }
      authority
        .certify({ csrPem: req.csr_pem, token, replacesSerial: req.replaces_serial || undefined, heldBundleVersion: Number(req.held_bundle_version ?? 0) })
        .then(
          (r) =>
            callback(null, {
              spiffe_id: r.spiffeId,
              cert_chain_pem: r.certChainPem,
              bundle: bundleMsg(r.bundle),
              not_before_unix_ms: String(r.notBefore.getTime()),
              not_after_unix_ms: String(r.notAfter.getTime()),
              serial: r.serial,
            }),
          (error) => callback(toStatus(error)),
        );
    },
    SyncTrustBundle: (call: grpc.ServerDuplexStream<BundleAckMsg, TrustBundleMsg>) => {
      let session: BundleSession | undefined;
      let unsubscribe: (() => void) | undefined;
      let authenticating = false;
      let closed = false;
      const cleanup = () => {
        closed = true;
        unsubscribe?.();
        session?.close();
        unsubscribe = undefined;
        session = undefined;
      };
      call.on('data', (msg: BundleAckMsg) => {
        if (session) {
          session.ack(Number(msg.version ?? 0));
          return;
        }
        if (authenticating) return;
        authenticating = true;
        let token: string;
        try {
          token = tokenOf(msg.credential);
        } catch (error) {
          call.emit('error', toStatus(error));
          return;
        }
        authority.verifyToken(token).then(
          (id) => {
            if (closed) return;
            if (id.trustDomain !== authority.trustDomain) {
              call.emit('error', toStatus(new IdentityError('IDENTITY_TRUST_DOMAIN_MISMATCH', `token for trust domain "${id.trustDomain}"`)));
              return;
            }
            session = authority.openBundleSession(id.uri);
            session.ack(Number(msg.version ?? 0));
            unsubscribe = authority.bundle.subscribe((b) => call.write(bundleMsg(b)), { now: true });
          },
          (error) => call.emit('error', toStatus(error)),
        );
      });
      call.on('end', () => {
        cleanup();
        call.end();
      });
      call.on('cancelled', cleanup);
      call.on('error', cleanup);
      call.on('close', cleanup);
    },
  });
}

/** A grpc-js certificate provider fed by the authority: serving identity and trust bundle, updated live. */
class AuthorityCertificateProvider implements experimental.CertificateProvider {
  readonly #authority: IdentityAuthority;
  readonly #ca = new Map<experimental.CaCertificateUpdateListener, () => void>();
  readonly #id = new Map<experimental.IdentityCertificateUpdateListener, () => void>();
  constructor(authority: IdentityAuthority) {
    this.#authority = authority;
  }
  // grpc-js registers its watcher only after adding these listeners, so the first value must be delivered
  // asynchronously (a synchronous first call would be lost and the port would drop every connection).
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    const send = (pem: string) => listener({ caCertificate: Buffer.from(pem) });
    this.#ca.set(listener, this.#authority.bundle.subscribe((b) => send(b.pem)));
    queueMicrotask(() => {
      if (this.#ca.has(listener)) send(this.#authority.bundle.current.pem);
    });
  }
  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#ca.get(listener)?.();
    this.#ca.delete(listener);
  }
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    const send = (m: { certChainPem: string; keyPem: string }) => listener({ certificate: Buffer.from(m.certChainPem), privateKey: Buffer.from(m.keyPem) });
    this.#id.set(listener, this.#authority.serving.subscribe(send));
    queueMicrotask(() => {
      if (this.#id.has(listener)) send(this.#authority.serving.current);
    });
  }
  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#id.get(listener)?.();
    this.#id.delete(listener);
  }
}

/**
 * TLS server credentials for the control plane's gRPC port: the certificate of
 * spiffe://<td>/ns/weft-system/sa/weft-control from the authority, renewed and rotated live. Client
 * certificates are requested and verified against the bundle when presented, but not required
 * (a workload's first call has only its token).
 */
export function identityServerCredentials(authority: IdentityAuthority): grpc.ServerCredentials {
  const provider = new AuthorityCertificateProvider(authority);
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

// Loads identity.proto at runtime (@grpc/proto-loader) and exposes the service definition and types.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** identity.proto beside this module; from a compiled dist/src/identity/ it is found in src/identity/. */
export const IDENTITY_PROTO_PATH = ((): string => {
  const here = fileURLToPath(new URL('./identity.proto', import.meta.url));
  if (existsSync(here)) return here;
  return fileURLToPath(new URL('../../../src/identity/identity.proto', import.meta.url));
})();

export interface CredentialMsg {
  workload_token?: string;
  kubernetes_sa_token?: string;
  kind?: string;
}
export interface CertifyRequestMsg {
  csr_pem: string;
  credential?: CredentialMsg | null;
  replaces_serial?: string;
  held_bundle_version?: string | number;
}
export interface TrustBundleMsg {
  version: string | number;
  pem: string;
  issuing_root_id: string;
}
export interface CertifyResponseMsg {
  spiffe_id: string;
  cert_chain_pem: string;
  bundle: TrustBundleMsg;
  not_before_unix_ms: string | number;
  not_after_unix_ms: string | number;
  serial: string;
}
export interface BundleAckMsg {
  credential?: CredentialMsg | null;
  version?: string | number;
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The generated client constructor (also carries `.service`, the server-side definition). */
export function identityServiceClient(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(IDENTITY_PROTO_PATH, { keepCase: true, longs: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { weft: { identity: { v1: { Identity: grpc.ServiceClientConstructor } } } };
  cached = pkg.weft.identity.v1.Identity;
  return cached;
}

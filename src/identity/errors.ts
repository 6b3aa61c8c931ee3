// Identity failures, one class per kind of failure, each with a stable code that maps to one gRPC status.
import { WeftError, type WeftErrorOptions } from '../core/errors.ts';

/** Stable codes of identity errors. `IDENTITY_*` codes are documented in docs/SECURITY.md. */
export type IdentityErrorCode =
  | 'IDENTITY_SPIFFE_ID_INVALID'
  | 'IDENTITY_CSR_INVALID'
  | 'IDENTITY_CSR_SIGNATURE_INVALID'
  | 'IDENTITY_KEY_POLICY'
  | 'IDENTITY_TOKEN_INVALID'
  | 'IDENTITY_TOKEN_EXPIRED'
  | 'IDENTITY_ID_MISMATCH'
  | 'IDENTITY_TRUST_DOMAIN_MISMATCH'
  | 'IDENTITY_RATE_LIMITED'
  | 'IDENTITY_PEER_REJECTED'
  | 'IDENTITY_CA_UNAVAILABLE'
  | 'IDENTITY_CA_STATE_INVALID'
  | 'IDENTITY_PLUGIN_CA_INVALID'
  | 'IDENTITY_CERT_INVALID'
  | 'IDENTITY_UNAVAILABLE';

export class IdentityError extends WeftError {
  declare readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message: string, options: WeftErrorOptions = {}) {
    super(code, message, options);
  }
}

/** gRPC status numbers (from @grpc/grpc-js `status`), kept here so src/identity stays transport-free. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The one place where an identity error code becomes a gRPC status. */
export function grpcStatusFor(code: string): number {
  switch (code) {
    case 'IDENTITY_TOKEN_INVALID':
    case 'IDENTITY_TOKEN_EXPIRED':
      return GrpcStatus.UNAUTHENTICATED;
    case 'IDENTITY_ID_MISMATCH':
    case 'IDENTITY_TRUST_DOMAIN_MISMATCH':
      return GrpcStatus.PERMISSION_DENIED;
    case 'IDENTITY_SPIFFE_ID_INVALID':
    case 'IDENTITY_CSR_INVALID':
    case 'IDENTITY_CSR_SIGNATURE_INVALID':
    case 'IDENTITY_KEY_POLICY':
      return GrpcStatus.INVALID_ARGUMENT;
    case 'IDENTITY_RATE_LIMITED':
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 'IDENTITY_CA_UNAVAILABLE':
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.INTERNAL;
  }
}

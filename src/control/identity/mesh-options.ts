// Maps the validated Mesh settings (trust domain, certificate lifetimes, rotation fractions) onto the
// options of IdentityAuthority, so the control plane builds its CA from configuration in one call.
import type { MeshSettingsConfig } from '../../config/index.ts';
import type { IdentityAuthorityOptions } from './authority.ts';

export type MeshIdentityOptions = Pick<IdentityAuthorityOptions, 'trustDomain' | 'leafTtlMs' | 'intermediateTtlMs' | 'rootTtlMs' | 'rotationThreshold' | 'intermediateRenewThreshold'>;

/**
 * `rotation.rootRenewFraction` (fraction of the root's life after which rotation starts) becomes
 * `rotationThreshold` (fraction of life left); likewise `issuerRenewFraction`. The workload side's
 * `leafRenewFraction` is the `renewAt` option of WorkloadIdentityClient.
 */
export function identityOptionsFromMesh(mesh: MeshSettingsConfig): MeshIdentityOptions {
  const c = mesh.certificates;
  return {
    trustDomain: mesh.trustDomain,
    leafTtlMs: c.leafTtlMs,
    intermediateTtlMs: c.issuerTtlMs,
    rootTtlMs: c.rootTtlMs,
    rotationThreshold: 1 - c.rotation.rootRenewFraction,
    intermediateRenewThreshold: 1 - c.rotation.issuerRenewFraction,
  };
}

// The raw input type (`XSpec`) of every kind's `spec`, inferred from the same schema descriptions
// that validate it: what a user (or a store adapter building documents) writes, before defaults.
// Durations are strings here (`10s`); the validated `XConfig` (types.ts) holds milliseconds.
import type { Infer } from './schema.ts';
import type { gatewayKind, grpcRouteKind, httpRouteKind, referenceGrantKind } from './kinds-gateway.ts';
import type {
  authorizationPolicyKind,
  backendTrafficPolicyKind,
  kubernetesServiceKind,
  meshKind,
  mtlsPolicyKind,
  rateLimitPolicyKind,
  serviceKind,
  workloadKind,
} from './kinds-weft.ts';

export type MeshSpec = Infer<(typeof meshKind)['spec']>;
export type ServiceSpec = Infer<(typeof serviceKind)['spec']>;
export type KubernetesServiceSpec = Infer<(typeof kubernetesServiceKind)['spec']>;
export type WorkloadSpec = Infer<(typeof workloadKind)['spec']>;
export type GatewaySpec = Infer<(typeof gatewayKind)['spec']>;
export type HTTPRouteSpec = Infer<(typeof httpRouteKind)['spec']>;
export type GRPCRouteSpec = Infer<(typeof grpcRouteKind)['spec']>;
export type ReferenceGrantSpec = Infer<(typeof referenceGrantKind)['spec']>;
export type MTLSPolicySpec = Infer<(typeof mtlsPolicyKind)['spec']>;
export type AuthorizationPolicySpec = Infer<(typeof authorizationPolicyKind)['spec']>;
export type BackendTrafficPolicySpec = Infer<(typeof backendTrafficPolicyKind)['spec']>;
export type RateLimitPolicySpec = Infer<(typeof rateLimitPolicyKind)['spec']>;

/** A whole raw document of one kind. */
export interface ResourceDocument<K extends string, Spec> {
  apiVersion: string;
  kind: K;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Spec;
}

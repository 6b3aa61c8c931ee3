// Policy resolution: which MTLSPolicy / BackendTrafficPolicy applies to a service (port), following
// the documented precedence mesh < namespace < service < service port. At one level, the policy with
// the smallest `namespace/name` key wins, so the result never depends on load order.
import { BACKEND_TRAFFIC_DEFAULTS } from './defaults.ts';
import type {
  BackendTimeoutsConfig,
  BackendTrafficPolicyConfig,
  CircuitBreakerConfig,
  LoadBalancerConfig,
  MeshConfig,
  MtlsMode,
  OutlierDetectionConfig,
  PolicyBase,
  RetryBudgetConfig,
  ServiceConfig,
} from './types.ts';

export interface PolicySubject {
  readonly namespace: string;
  /** Service name. */
  readonly service: string;
  /** Service port (number); port-level policies match it by number or by the port's name. */
  readonly port?: number;
}

/** 0 = does not apply, 1 = namespace, 2 = service, 3 = service port. */
function specificity(policy: PolicyBase<string>, subject: PolicySubject, svc: ServiceConfig | undefined): number {
  const ns = policy.metadata.namespace;
  if (policy.targetRefs.length === 0) return ns === subject.namespace ? 1 : 0;
  let best = 0;
  for (const t of policy.targetRefs) {
    if (t.kind === 'Namespace' && t.name === subject.namespace) best = Math.max(best, 1);
    if (t.kind === 'Service' && ns === subject.namespace && t.name === subject.service) {
      if (t.port === undefined && t.sectionName === undefined) best = Math.max(best, 2);
      else if (subject.port !== undefined) {
        const portName = svc?.ports.find((p) => p.port === subject.port)?.name;
        if (t.port === subject.port || (t.sectionName !== undefined && t.sectionName === portName)) best = Math.max(best, 3);
      }
    }
  }
  return best;
}

/** Policies that apply to the subject, most specific first (ties: by key). */
export function applicablePolicies<P extends PolicyBase<string>>(policies: ReadonlyMap<string, P>, subject: PolicySubject, config: MeshConfig): P[] {
  const svc = config.services.get(`${subject.namespace}/${subject.service}`);
  const scored: [number, P][] = [];
  for (const p of policies.values()) {
    const level = specificity(p, subject, svc);
    if (level > 0) scored.push([level, p]);
  }
  // Map iteration is in key order, and sort is stable, so ties keep key order.
  return scored.sort((a, b) => b[0] - a[0]).map(([, p]) => p);
}

/** The mTLS mode of a service (port): the most specific MTLSPolicy, else the Mesh default. */
export function resolveMtlsMode(config: MeshConfig, subject: PolicySubject): MtlsMode {
  return applicablePolicies(config.mtlsPolicies, subject, config)[0]?.mode ?? config.mesh.mtlsMode;
}

export interface ResolvedBackendTraffic {
  readonly loadBalancer: LoadBalancerConfig;
  readonly circuitBreaker: CircuitBreakerConfig;
  readonly outlierDetection: OutlierDetectionConfig;
  readonly retryBudget: RetryBudgetConfig;
  readonly timeouts: BackendTimeoutsConfig;
  /** Keys of the policies that contributed, most specific first. */
  readonly policies: readonly string[];
}

/**
 * The traffic settings for calls to a service: each section from the most specific
 * BackendTrafficPolicy that sets it, else the default (the retry budget defaults to the Mesh's).
 */
export function resolveBackendTraffic(config: MeshConfig, subject: PolicySubject): ResolvedBackendTraffic {
  const list = applicablePolicies(config.backendTrafficPolicies, subject, config);
  const pick = <K extends 'loadBalancer' | 'circuitBreaker' | 'outlierDetection' | 'retryBudget' | 'timeouts'>(k: K): BackendTrafficPolicyConfig[K] | undefined =>
    list.find((p) => p[k] !== undefined)?.[k];
  return Object.freeze({
    loadBalancer: pick('loadBalancer') ?? BACKEND_TRAFFIC_DEFAULTS.loadBalancer,
    circuitBreaker: pick('circuitBreaker') ?? BACKEND_TRAFFIC_DEFAULTS.circuitBreaker,
    outlierDetection: pick('outlierDetection') ?? BACKEND_TRAFFIC_DEFAULTS.outlierDetection,
    retryBudget: pick('retryBudget') ?? config.mesh.retryBudget,
    timeouts: pick('timeouts') ?? BACKEND_TRAFFIC_DEFAULTS.timeouts,
    policies: Object.freeze(list.map((p) => p.key)),
  });
}

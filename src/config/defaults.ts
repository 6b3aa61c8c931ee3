// The documented defaults of mesh-wide settings and of BackendTrafficPolicy sections, in their
// validated (Config) form. Schemas state the same defaults in input form; a unit test keeps them equal.
import type {
  BackendTimeoutsConfig,
  CircuitBreakerConfig,
  LoadBalancerConfig,
  MeshSettingsConfig,
  OutlierDetectionConfig,
  RetryBudgetConfig,
} from './types.ts';

const HOUR = 3_600_000;

export const DEFAULT_RETRY_BUDGET: RetryBudgetConfig = Object.freeze({ percent: 20, minRetriesPerSecond: 10, ttlMs: 10_000 });

/** Mesh settings when no Mesh resource is given. */
export const MESH_DEFAULTS: MeshSettingsConfig = Object.freeze({
  name: 'default',
  trustDomain: 'cluster.local',
  mtlsMode: 'STRICT',
  certificates: Object.freeze({
    leafTtlMs: 24 * HOUR,
    issuerTtlMs: 720 * HOUR,
    rootTtlMs: 8760 * HOUR,
    rotation: Object.freeze({ leafRenewFraction: 0.5, issuerRenewFraction: 0.75, rootRenewFraction: 0.667 }),
  }),
  retryBudget: DEFAULT_RETRY_BUDGET,
  telemetry: Object.freeze({ traceSamplingPercent: 1, otlpEndpoint: undefined, accessLogFormat: 'json' }),
  source: undefined,
}) as MeshSettingsConfig;

export interface BackendTrafficDefaults {
  readonly loadBalancer: LoadBalancerConfig;
  readonly circuitBreaker: CircuitBreakerConfig;
  readonly outlierDetection: OutlierDetectionConfig;
  readonly timeouts: BackendTimeoutsConfig;
}

/** BackendTrafficPolicy sections when no policy sets them (the retry budget comes from the Mesh). */
export const BACKEND_TRAFFIC_DEFAULTS: BackendTrafficDefaults = Object.freeze({
  loadBalancer: Object.freeze({ type: 'P2CEWMA', hashHeader: undefined, minRingSize: 1024 }),
  circuitBreaker: Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 }),
  outlierDetection: Object.freeze({ consecutive5xx: 5, consecutiveGatewayErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 }),
  timeouts: Object.freeze({ connectMs: 1000, idleMs: HOUR }),
}) as BackendTrafficDefaults;

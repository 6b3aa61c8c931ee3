// The system-under-test (SUT) adapter interface: what the conformance harness needs from a gateway or
// mesh implementation. One adapter per implementation (reference router now, weft later).
import type { Address } from './clients.ts';
import type { K8sObject, PreAction } from './corpus.ts';
import type { RunningBackends } from './backends.ts';

export interface GatewayRef {
  namespace: string;
  name: string;
}

/** The pod a mesh request starts from (`target.client` of a mesh case). */
export interface MeshClientRef {
  namespace: string;
  /** Label selector as written upstream, e.g. `app=echo,version=v1`. */
  selector: string;
  podNamePrefix: string;
}

/** One request of the Istio-style echo client: `client <url> --method=M -H k:v`. */
export interface MeshRequest {
  /** `http://echo/path`, `http://echo-v2`, `grpc://echo:7070`, `http://10.244.0.7:8080`. */
  url: string;
  method: string;
  headers: Record<string, string>;
  protocol: 'http' | 'grpc';
}

/**
 * Sends a mesh request from the client pod through the SUT and resolves to what the echo client prints:
 * `StatusCode=…`, `ResponseHeader=…` lines then the server's `Key=Value` body (see
 * test/support/echo-advanced.ts, formatEchoAdvancedClientOutput). gRPC OK is printed as 200.
 */
export type MeshSender = (request: MeshRequest) => Promise<string>;

/** A configuration the SUT has applied and is serving. */
export interface AppliedConfig {
  /** Where to send traffic for Gateway `gateway` listener port `port` (e.g. 80 → 127.0.0.1:41234). */
  gatewayAddress(gateway: GatewayRef, port: number): Address;
  /** A sender that originates requests from `client`, through the SUT's mesh data plane. */
  meshClient(client: MeshClientRef): MeshSender;
  /** Stops serving this configuration (listeners closed); the SUT itself keeps running. */
  remove(): Promise<void>;
}

export interface SystemUnderTest {
  readonly name: string;
  /** GatewayClass name substituted for `{GATEWAY_CLASS_NAME}`. */
  readonly gatewayClassName: string;
  /** Gateway API feature names (pkg/features) this SUT claims; tests needing others are skipped. */
  readonly supportedFeatures: ReadonlySet<string>;
  start(): Promise<void>;
  /**
   * Applies `manifests` (the whole desired config: GatewayClass, Namespaces, Gateways, routes, Services,
   * EndpointSlices, ReferenceGrants, Secrets) with `backends` as the running pods, and resolves once the
   * config is live (the harness checks each case once, without upstream's eventual-consistency retries).
   */
  apply(manifests: readonly K8sObject[], backends: RunningBackends): Promise<AppliedConfig>;
  /** Carries out a case's preAction on the applied config (today only `delete` of one object). */
  deletePre(action: PreAction): Promise<void>;
  stop(): Promise<void>;
}

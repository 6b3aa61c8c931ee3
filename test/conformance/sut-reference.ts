// The reference SUT adapter: runs the harness's own reference router (test/conformance/reference-router.ts)
// in-process. It proves the harness end to end; it is not weft.
import type { K8sObject, PreAction } from './corpus.ts';
import type { RunningBackends } from './backends.ts';
import type { AppliedConfig, SystemUnderTest } from './sut.ts';
import { ReferenceRouter, type ReferenceRouterOptions } from './reference-router.ts';
import { HarnessSetupError } from './errors.ts';

/** Features the reference router implements (Gateway API pkg/features names). */
export const REFERENCE_FEATURES: readonly string[] = [
  'Gateway',
  'HTTPRoute',
  'ReferenceGrant',
  'Mesh',
  'GRPCRoute',
  'GRPCRouteRequestHeaderModifier',
  'GRPCRouteNamedRouteRule',
  'GatewayPort8080',
  'GatewayHTTPListenerIsolation',
  'GatewayHTTPSListenerDetectMisdirectedRequests',
  'HTTPRouteParentRefPort',
  'HTTPRouteNamedRouteRule',
  'HTTPRouteMethodMatching',
  'HTTPRouteQueryParamMatching',
  'HTTPRouteResponseHeaderModification',
  'HTTPRouteBackendRequestHeaderModification',
  'HTTPRoutePathRedirect',
  'HTTPRoutePortRedirect',
  'HTTPRouteSchemeRedirect',
  'HTTPRoute303RedirectStatusCode',
  'HTTPRoute307RedirectStatusCode',
  'HTTPRoute308RedirectStatusCode',
  'HTTPRouteHostRewrite',
  'HTTPRoutePathRewrite',
  'HTTPRouteRequestMirror',
  'HTTPRouteRequestMultipleMirrors',
  'HTTPRouteRequestPercentageMirror',
  'HTTPRouteRequestTimeout',
  'HTTPRouteBackendTimeout',
  'HTTPRouteBackendProtocolH2C',
  'HTTPRouteBackendProtocolWebSocket',
  'HTTPRouteCORS',
  'HTTPRouteBackendRequestRedirect',
  'HTTPRouteBackendURLRewrite',
  'HTTPRouteRetry',
  'HTTPRouteRetryConnectionError',
  'HTTPRouteRetryBackendTimeout',
  'MeshClusterIPMatching',
  'MeshConsumerRoute',
  'MeshHTTPRouteNamedRouteRule',
  'MeshHTTPRouteQueryParamMatching',
  'MeshHTTPRouteRedirectPath',
  'MeshHTTPRouteRedirectPort',
  'MeshHTTPRouteSchemeRedirect',
  'MeshHTTPRouteRewritePath',
  'MeshHTTPRouteBackendRequestHeaderModification',
];

export class ReferenceSut implements SystemUnderTest {
  readonly name = 'reference';
  readonly gatewayClassName = 'weft-conformance-reference';
  readonly supportedFeatures: ReadonlySet<string>;
  readonly #options: ReferenceRouterOptions;
  #router: ReferenceRouter | undefined;

  constructor(options: ReferenceRouterOptions & { features?: readonly string[] } = {}) {
    this.#options = options;
    this.supportedFeatures = new Set(options.features ?? REFERENCE_FEATURES);
  }

  async start(): Promise<void> {
    // Nothing to start: a router is created per applied configuration.
  }

  async apply(manifests: readonly K8sObject[], backends: RunningBackends): Promise<AppliedConfig> {
    await this.#router?.close();
    const router = new ReferenceRouter(this.#options);
    await router.apply(manifests, backends);
    this.#router = router;
    return {
      gatewayAddress: (gateway, port) => router.gatewayAddress(gateway, port),
      meshClient: (client) => (request) => router.meshSend(client, request),
      remove: async () => {
        await router.close();
        if (this.#router === router) this.#router = undefined;
      },
    };
  }

  async deletePre(action: PreAction): Promise<void> {
    if (this.#router === undefined) throw new HarnessSetupError('reference SUT: preAction before apply');
    if (action.action !== 'delete') throw new HarnessSetupError(`reference SUT: unknown preAction ${String(action.action)}`);
    this.#router.delete(action.kind, action.namespace, action.name);
  }

  async stop(): Promise<void> {
    await this.#router?.close();
    this.#router = undefined;
  }
}

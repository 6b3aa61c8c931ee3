// The weft SUT adapter — a placeholder until weft's gateway mode exists. It throws a clear
// SutNotSupportedError today; the comments below are the exact plan for plugging weft in.
//
// Once the control plane can run from files and the proxy has gateway listeners, implement it as:
//
// start():
//   1. mkdtemp a config dir; spawn `node bin/weft.js control --config-dir <dir> --xds-listen 127.0.0.1:0
//      --admin-listen 127.0.0.1:0` (embedded file store); read the bound ports from its first log line
//      or admin /ready; fail on exit.
// apply(manifests, backends):
//   2. Translate the running pods into what weft's registry understands: for every Service in
//      `manifests`, write an EndpointSlice whose endpoints are the pods' real addresses
//      (backends.endpoints(ns, name, port) → 127.0.0.1:<port>), keeping the Service port numbers.
//      Selector-less Services keep their (harness-filled) EndpointSlices, pod IPs mapped with
//      backends.resolvePodIP().
//   3. Write every object (GatewayClass with controllerName weft.dev/gateway, Gateways, HTTPRoutes,
//      GRPCRoutes, ReferenceGrants, the TLS Secret) as YAML into the config dir in one atomic rename,
//      then wait until the control plane reports the new snapshot version as ACKed by every proxy
//      (admin /config_dump version, or the proxy's /config_dump) — never sleep.
//   4. For each Gateway, spawn `node bin/weft.js proxy --mode gateway --gateway <ns>/<name>
//      --xds 127.0.0.1:<xds> --admin-listen 127.0.0.1:0 --listener-port-map 80=0,443=0,8080=0`, so each
//      declared listener port binds 127.0.0.1:0; read the bound ports from the proxy admin
//      (/listeners). gatewayAddress(gw, port) returns them.
//   5. meshClient(client): spawn a sidecar `weft proxy --mode sidecar --workload <ns>/<podName>`
//      for the client pod; the sender sends the request to its outbound listener with the target Service
//      as Host (gRPC: :authority), then prints the exchange with formatEchoAdvancedClientOutput().
// deletePre(action): remove that object's YAML file and wait for the ACK as in step 3.
// stop(): SIGTERM the proxies and the control plane by pid, await exit, remove the config dir.
//
// Features to declare then: the ones the compiler and the gateway listeners implement, checked against
// `npm run conformance -- --sut weft` (start from the reference adapter's list).
import type { K8sObject, PreAction } from './corpus.ts';
import type { RunningBackends } from './backends.ts';
import type { AppliedConfig, SystemUnderTest } from './sut.ts';
import { SutNotSupportedError } from './errors.ts';

const NOT_YET = 'not yet supported: weft has no Gateway listeners (the weft adapter in test/conformance/sut-weft.ts lists the steps to plug it in)';

export class WeftSut implements SystemUnderTest {
  readonly name = 'weft';
  readonly gatewayClassName = 'weft';
  readonly supportedFeatures: ReadonlySet<string> = new Set(['Gateway', 'HTTPRoute']);

  async start(): Promise<void> {
    throw new SutNotSupportedError(NOT_YET);
  }

  async apply(_manifests: readonly K8sObject[], _backends: RunningBackends): Promise<AppliedConfig> {
    throw new SutNotSupportedError(NOT_YET);
  }

  async deletePre(_action: PreAction): Promise<void> {
    throw new SutNotSupportedError(NOT_YET);
  }

  async stop(): Promise<void> {
    // Nothing was started.
  }
}

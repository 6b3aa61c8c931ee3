// Running backends: starts the echo pods a test plans (echo-basic, echo-basic-grpc, echo-advanced), gives
// each a fake pod IP, and answers "which 127.0.0.1 port serves Service S port P / pod IP:targetPort".
import type { Address } from './clients.ts';
import type { BackendServiceSpec, EchoServerKind, PlannedPod, ServicePortSpec } from './corpus.ts';
import { HarnessSetupError } from './errors.ts';
import type { GeneratedCertificate } from './tls-cert.ts';
import { startEchoBasic, type EchoBasicServer } from '../support/echo-basic.ts';
import { startEchoAdvanced, type EchoAdvancedServer } from '../support/echo-advanced.ts';

export interface RunningPod {
  readonly namespace: string;
  readonly podName: string;
  readonly podNamePrefix: string;
  /** A fake cluster IP for the pod (10.244.x.y), unique in the run; resolve it with `RunningBackends.resolvePodIP`. */
  readonly podIP: string;
  readonly server: EchoServerKind;
  readonly services: readonly string[];
  readonly basic: EchoBasicServer | undefined;
  readonly advanced: EchoAdvancedServer | undefined;
  /** The local address serving the pod's container port (3000/3001/8443 for echo-basic, 8080/7070 for echo-advanced). */
  resolve(targetPort: number): Address | undefined;
}

export interface ServiceEndpoint {
  pod: RunningPod;
  address: Address;
  /** appProtocol of the Service port (`kubernetes.io/h2c`, `kubernetes.io/ws`, `http`…). */
  appProtocol: string | undefined;
}

export interface RunningBackends {
  readonly pods: readonly RunningPod[];
  readonly services: readonly BackendServiceSpec[];
  service(namespace: string, name: string): BackendServiceSpec | undefined;
  /** Endpoints of Service `name` port `port`, or [] when the Service or port is unknown. */
  endpoints(namespace: string, name: string, port: number): ServiceEndpoint[];
  podsByPrefix(namespace: string, podNamePrefix: string): RunningPod[];
  podByIP(ip: string): RunningPod | undefined;
  /** Local address for `podIP:targetPort`. */
  resolvePodIP(ip: string, targetPort: number): Address | undefined;
  /** Echo log lines for request URI `uri`, summed over a Service's echo-basic pods (mirror tests). */
  countEchoed(namespace: string, service: string, uri: string): number;
  close(): Promise<void>;
}

function targetPortOf(p: ServicePortSpec): number {
  if (typeof p.targetPort === 'number') return p.targetPort;
  if (typeof p.targetPort === 'string' && /^\d+$/.test(p.targetPort)) return Number(p.targetPort);
  return p.port;
}

let ipCounter = 0;

function nextPodIP(): string {
  ipCounter++;
  return `10.244.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 2}`;
}

/** Starts every planned pod (in parallel) and indexes them. */
export async function startBackends(plan: readonly PlannedPod[], services: readonly BackendServiceSpec[], certificate?: GeneratedCertificate): Promise<RunningBackends> {
  const pods: RunningPod[] = [];
  const started = await Promise.allSettled(
    plan.map(async (p): Promise<RunningPod> => {
      const serviceName = p.services[0] ?? p.podNamePrefix;
      if (p.server === 'echo-advanced') {
        const version = /-(v\d+)$/.exec(p.podNamePrefix)?.[1] ?? '';
        const advanced = await startEchoAdvanced({ namespace: p.namespace, podName: p.podName, version });
        return {
          ...p,
          podIP: nextPodIP(),
          basic: undefined,
          advanced,
          resolve: (port) => (port === 8080 || port === 80 ? { host: advanced.host, port: advanced.httpPort } : port === 7070 ? { host: advanced.host, port: advanced.grpcPort } : undefined),
        };
      }
      if (p.server !== 'echo-basic' && p.server !== 'echo-basic-grpc') throw new HarnessSetupError(`unknown echo server kind ${String(p.server)} for pod ${p.podName}`);
      if (p.tls && certificate === undefined) throw new HarnessSetupError(`pod ${p.podName} wants TLS but no certificate was generated`);
      const basic = await startEchoBasic({
        namespace: p.namespace,
        podName: p.podName,
        service: serviceName,
        grpc: p.server === 'echo-basic-grpc',
        ...(p.tls && certificate ? { tls: { cert: certificate.cert, key: certificate.key } } : {}),
      });
      return {
        ...p,
        podIP: nextPodIP(),
        basic,
        advanced: undefined,
        resolve: (port) => {
          if (port === 3000) return { host: basic.host, port: basic.httpPort };
          if (port === 3001 && basic.h2cPort !== undefined) return { host: basic.host, port: basic.h2cPort };
          if (port === 8443 && basic.httpsPort !== undefined) return { host: basic.host, port: basic.httpsPort };
          return undefined;
        },
      };
    }),
  );
  for (const s of started) if (s.status === 'fulfilled') pods.push(s.value);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(pods.map((p) => (p.basic ?? p.advanced)?.close()));
    throw new HarnessSetupError('could not start the echo backends', { cause: failed.reason });
  }

  const svcIndex = new Map(services.map((s) => [`${s.namespace}/${s.name}`, s]));
  const byIP = new Map(pods.map((p) => [p.podIP, p]));
  const backends: RunningBackends = {
    pods,
    services,
    service: (namespace, name) => svcIndex.get(`${namespace}/${name}`),
    endpoints(namespace, name, port) {
      const svc = svcIndex.get(`${namespace}/${name}`);
      const sp = svc?.ports.find((p) => p.port === port);
      if (svc === undefined || sp === undefined) return [];
      const prefixes = new Set(svc.pods.map((g) => g.podNamePrefix));
      const out: ServiceEndpoint[] = [];
      for (const pod of pods) {
        if (pod.namespace !== namespace || !prefixes.has(pod.podNamePrefix)) continue;
        const address = pod.resolve(targetPortOf(sp));
        if (address !== undefined) out.push({ pod, address, appProtocol: sp.appProtocol });
      }
      return out;
    },
    podsByPrefix: (namespace, prefix) => pods.filter((p) => p.namespace === namespace && p.podNamePrefix === prefix),
    podByIP: (ip) => byIP.get(ip.replace(/^\[|\]$/g, '')),
    resolvePodIP: (ip, targetPort) => byIP.get(ip.replace(/^\[|\]$/g, ''))?.resolve(targetPort),
    countEchoed(namespace, service, uri) {
      const svc = svcIndex.get(`${namespace}/${service}`);
      if (svc === undefined) return 0;
      const prefixes = new Set(svc.pods.map((g) => g.podNamePrefix));
      let n = 0;
      for (const pod of pods) if (pod.namespace === namespace && prefixes.has(pod.podNamePrefix) && pod.basic) n += pod.basic.countEchoed(uri);
      return n;
    },
    async close() {
      await Promise.all(pods.map((p) => (p.basic ?? p.advanced)?.close()));
    },
  };
  return backends;
}

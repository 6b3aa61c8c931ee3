// Corpus loader: reads the Gateway API conformance corpus (index.json, cases/*.json, status-only/*.json)
// into typed tests, prepares a test's manifests (base + own, GatewayClass name, the generated TLS Secret,
// manual EndpointSlices) and materialises a case for one attempt ({uuid}, {podIP:…}, {gateway},
// appendQueryParam).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CorpusError } from './errors.ts';
import type { GeneratedCertificate } from './tls-cert.ts';
import { CONFORMANCE_CERT_SECRET } from './tls-cert.ts';

/**
 * Where the corpus is: $WEFT_CONFORMANCE_CORPUS, else `shared/` beside the repository (how the
 * developers' machines and CI lay it out), else /work/shared.
 */
export const DEFAULT_CORPUS_DIR = process.env['WEFT_CONFORMANCE_CORPUS'] ?? findCorpusDir();

function findCorpusDir(): string {
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const candidates = [join(repoRoot, '..', 'shared', 'conformance', 'gateway-api'), '/work/shared/conformance/gateway-api'];
  return candidates.find((dir) => existsSync(join(dir, 'index.json'))) ?? candidates[0]!;
}

export type Comparator = 'gateway-http' | 'grpc' | 'mesh-echo' | 'websocket-echo';
export type EchoServerKind = 'echo-basic' | 'echo-basic-grpc' | 'echo-advanced';

/** A Kubernetes-style object as found in the manifests. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec?: any;
  [k: string]: unknown;
}

export interface ServicePortSpec {
  name?: string;
  protocol?: string;
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
}

export interface PodGroupSpec {
  podNamePrefix: string;
  replicas: number;
  server: EchoServerKind;
  tls: boolean;
}

export interface BackendServiceSpec {
  namespace: string;
  name: string;
  ports: ServicePortSpec[];
  pods: PodGroupSpec[];
}

export interface GatewayTarget {
  kind: 'gateway';
  gateway: { namespace: string; name: string };
  port: number;
  scheme: 'http' | 'https';
  serverName?: string;
  protocol?: string;
  sectionNames?: string[];
}

export interface MeshTarget {
  kind: 'mesh';
  client: { namespace: string; selector: string; podNamePrefix: string };
}

export interface CaseRequest {
  method?: string | null;
  host?: string;
  path?: string;
  headers?: Record<string, string>;
  protocol: string;
  followRedirects?: boolean;
  serverName?: string;
  body?: string;
  url?: string;
  origin?: string;
  appendQueryParam?: Record<string, string>;
  /** gRPC */
  service?: string;
  authority?: string | null;
  metadata?: Record<string, string>;
  message?: Record<string, unknown>;
}

export interface ExpectedBackendRequest {
  method?: string;
  path?: string;
  host?: string | null;
  headers: Record<string, string> | null;
  absentHeaders: string[];
  defaultedFromRequest?: boolean;
  pathAssertedUpstream?: boolean;
}

export interface ExpectedResponse {
  headers?: Record<string, string>;
  validHeaderValues?: Record<string, string[]>;
  absentHeaders?: string[];
  ignoreWhitespace?: boolean;
}

export interface ExpectedRedirect {
  scheme: string;
  host: string | null;
  port: string | null;
  path: string;
  literal?: Record<string, string>;
  assertedUpstream?: boolean;
}

export interface CaseExpectation {
  statusCode?: number;
  statusCodes?: number[];
  backend?: string | null;
  namespace?: string | null;
  backendRequest?: ExpectedBackendRequest;
  response?: ExpectedResponse;
  redirect?: ExpectedRedirect;
  mirroredTo?: Array<{ name: string; namespace: string; percent: number | null }>;
  exchange?: Array<{ send: { text: string } | { binary: number[] }; receive: { text: string } | { binary: number[] } }>;
  grpcCode?: string;
  fullyQualifiedMethod?: string | null;
  notAssertedUpstream?: unknown;
}

export interface Distribution {
  totalRequests: number;
  concurrency?: number;
  maxAttempts?: number;
  tolerance?: number;
  toleranceStdDevs?: number;
  expectedWeights?: Record<string, number>;
  batch?: boolean;
  backendFrom?: string;
  entropy?: string;
  rule?: string;
}

export interface PreAction {
  action: 'delete';
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface ConformanceCase {
  id: string;
  name: string;
  target: GatewayTarget | MeshTarget;
  request: CaseRequest;
  expected: CaseExpectation;
  backendSetResponseHeaders?: Record<string, string>;
  distribution?: Distribution;
  repeat?: { count: number; assert: string };
  preActions?: PreAction[];
  group?: string;
  upstreamExpectedResponse?: unknown;
}

export interface ConformanceTest {
  name: string;
  description: string;
  profile: 'gateway' | 'mesh';
  conformanceProfiles: string[];
  supportLevel: 'core' | 'extended';
  features: string[];
  extendedFeatures: string[];
  channel: string;
  provisional: boolean;
  comparator: Comparator;
  manifests: K8sObject[];
  baseManifests: K8sObject[];
  backends: BackendServiceSpec[];
  cases: ConformanceCase[];
  statusOnly?: boolean;
  sequential?: boolean;
  notes?: string[];
}

export interface CorpusIndexRow {
  name: string;
  file: string;
  profile: 'gateway' | 'mesh';
  conformanceProfiles: string[];
  supportLevel: 'core' | 'extended';
  extendedFeatures: string[];
  channel: string;
  provisional: boolean;
  comparator: Comparator;
  statusOnly: boolean;
  cases: number | string;
}

export interface CorpusIndex {
  dir: string;
  upstream: { repository: string; commit: string; describe?: string; license: string };
  tests: CorpusIndexRow[];
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new CorpusError(`conformance corpus file ${path} does not exist; set WEFT_CONFORMANCE_CORPUS to the corpus folder`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CorpusError(`conformance corpus file ${path} is not valid JSON`, { cause: error });
  }
}

/** Reads index.json. */
export function loadCorpusIndex(dir: string = DEFAULT_CORPUS_DIR): CorpusIndex {
  const raw = readJson(join(dir, 'index.json')) as Partial<CorpusIndex>;
  if (!Array.isArray(raw.tests) || raw.upstream === undefined) throw new CorpusError(`${join(dir, 'index.json')} has no "tests" array or "upstream" block`);
  return { dir, upstream: raw.upstream, tests: raw.tests };
}

/** Reads one test file by name (looked up in the index). */
export function loadConformanceTest(name: string, index: CorpusIndex = loadCorpusIndex()): ConformanceTest {
  const row = index.tests.find((t) => t.name === name);
  if (row === undefined) throw new CorpusError(`no conformance test named ${name} in ${index.dir}/index.json`);
  const test = readJson(join(index.dir, row.file)) as ConformanceTest;
  for (const key of ['name', 'comparator', 'manifests', 'baseManifests', 'backends', 'cases', 'features'] as const) {
    if (test[key] === undefined) throw new CorpusError(`${row.file} lacks "${key}"`);
  }
  return test;
}

/**
 * The full shared base set of a profile (`base/gateway-base-manifests.json` or
 * `base/mesh-base-manifests.json`). Each test already carries the subset it uses as `baseManifests`;
 * pass the full set as `PrepareOptions.baseObjects` to apply everything upstream applies.
 */
export function loadBaseManifests(profile: 'gateway' | 'mesh', index: CorpusIndex = loadCorpusIndex()): K8sObject[] {
  const file = join(index.dir, 'base', `${profile}-base-manifests.json`);
  const raw = readJson(file) as { objects?: K8sObject[] };
  if (!Array.isArray(raw.objects)) throw new CorpusError(`${file} has no "objects" array`);
  return raw.objects;
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function stableToken(seed: string, length: number): string {
  // FNV-1a, stretched: deterministic names make reports comparable between runs.
  let out = '';
  let h = 0x811c9dc5;
  for (let round = 0; out.length < length; round++) {
    for (const ch of `${seed}#${round}`) {
      h ^= ch.charCodeAt(0);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out += SAFE_ALPHABET[h % SAFE_ALPHABET.length];
  }
  return out;
}

/** `<deployment>-<rs-hash>-<id>`, deterministic for (namespace, deployment, index). */
export function podNameFor(namespace: string, podNamePrefix: string, index: number): string {
  return `${podNamePrefix}-${stableToken(`${namespace}/${podNamePrefix}`, 10)}-${stableToken(`${namespace}/${podNamePrefix}/${index}`, 5)}`;
}

/** The Deployment (and Service) name of a pod: its name without the last two `-` segments. */
export function deploymentOfPod(podName: string): string {
  const parts = podName.split('-');
  return parts.length > 2 ? parts.slice(0, -2).join('-') : podName;
}

/** One pod to start. Pods shared by several Services (mesh `echo` = echo-v1 + echo-v2) appear once. */
export interface PlannedPod {
  namespace: string;
  podNamePrefix: string;
  podName: string;
  server: EchoServerKind;
  tls: boolean;
  /** Services (names, same namespace) whose selector picks this pod. */
  services: string[];
}

/** The pods a test needs, deduplicated by (namespace, podNamePrefix), replicas expanded to pod names. */
export function planBackends(test: Pick<ConformanceTest, 'backends'>): PlannedPod[] {
  const byKey = new Map<string, { spec: PodGroupSpec; namespace: string; services: Set<string> }>();
  for (const svc of test.backends) {
    for (const group of svc.pods) {
      const key = `${svc.namespace}/${group.podNamePrefix}`;
      const seen = byKey.get(key);
      if (seen === undefined) byKey.set(key, { spec: { ...group }, namespace: svc.namespace, services: new Set([svc.name]) });
      else {
        seen.services.add(svc.name);
        seen.spec.replicas = Math.max(seen.spec.replicas, group.replicas);
        seen.spec.tls ||= group.tls;
      }
    }
  }
  const out: PlannedPod[] = [];
  for (const { spec, namespace, services } of byKey.values()) {
    for (let i = 0; i < spec.replicas; i++) {
      out.push({ namespace, podNamePrefix: spec.podNamePrefix, podName: podNameFor(namespace, spec.podNamePrefix, i), server: spec.server, tls: spec.tls, services: [...services] });
    }
  }
  return out;
}

function objectKey(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** True when some Gateway listener references the suite-generated certificate Secret. */
export function needsConformanceCertificate(test: Pick<ConformanceTest, 'manifests' | 'baseManifests' | 'backends'>): boolean {
  const text = JSON.stringify([test.manifests, test.baseManifests]);
  return text.includes(CONFORMANCE_CERT_SECRET.name) || test.backends.some((b) => b.pods.some((p) => p.tls));
}

export interface PrepareOptions {
  gatewayClassName: string;
  controllerName?: string;
  certificate?: GeneratedCertificate;
  /** Base objects to use instead of the test's own `baseManifests` subset (e.g. loadBaseManifests()). */
  baseObjects?: readonly K8sObject[];
}

/**
 * The full object set to apply: a GatewayClass, the base objects, then the test's own (which win on a
 * name clash), with `{GATEWAY_CLASS_NAME}` substituted and the generated TLS Secret added.
 */
export function prepareManifests(test: Pick<ConformanceTest, 'manifests' | 'baseManifests'>, options: PrepareOptions): K8sObject[] {
  const merged = new Map<string, K8sObject>();
  merged.set(`GatewayClass//${options.gatewayClassName}`, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: options.gatewayClassName },
    spec: { controllerName: options.controllerName ?? 'weft.dev/conformance' },
  });
  for (const o of [...(options.baseObjects ?? test.baseManifests), ...test.manifests]) {
    const text = JSON.stringify(o).replaceAll('{GATEWAY_CLASS_NAME}', options.gatewayClassName);
    const copy = JSON.parse(text) as K8sObject;
    merged.set(objectKey(copy), copy);
  }
  if (options.certificate !== undefined) {
    const secret: K8sObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: CONFORMANCE_CERT_SECRET.name, namespace: CONFORMANCE_CERT_SECRET.namespace },
      data: {
        'tls.crt': Buffer.from(options.certificate.cert).toString('base64'),
        'tls.key': Buffer.from(options.certificate.key).toString('base64'),
      },
    };
    merged.set(objectKey(secret), secret);
  }
  return [...merged.values()];
}

/** Pod addresses, as the harness hands them to EndpointSlices. */
export interface PodAddressSource {
  podsByPrefix(namespace: string, podNamePrefix: string): Array<{ podName: string; podIP: string }>;
}

/**
 * Fills manifest EndpointSlices that have no endpoints with the infra-backend-v1 pods of their
 * namespace, as the upstream suite does for HTTPRouteServiceTypes (IPv4 slices only: local pods have
 * no IPv6 address).
 */
export function fillEndpointSlices(manifests: K8sObject[], pods: PodAddressSource, podNamePrefix = 'infra-backend-v1'): K8sObject[] {
  return manifests.map((o) => {
    if (o.kind !== 'EndpointSlice' || Array.isArray(o['endpoints'])) return o;
    if (o['addressType'] !== 'IPv4') return { ...o, endpoints: [] };
    const found = pods.podsByPrefix(o.metadata.namespace ?? 'default', podNamePrefix);
    return {
      ...o,
      endpoints: found.map((p) => ({ addresses: [p.podIP], conditions: { ready: true }, targetRef: { kind: 'Pod', name: p.podName, namespace: o.metadata.namespace } })),
    };
  });
}

export interface MaterializeContext {
  /** Gateway address `host:port` for `{gateway}`. */
  gateway?: string;
  /** IP of a pod of a Deployment, for `{podIP:NAME}`. */
  podIP?: (podNamePrefix: string) => string | undefined;
  /** UUID source (tests inject a fixed one). */
  uuid?: () => string;
}

/** A case ready for one attempt: placeholders resolved and appendQueryParam applied to request and expectation. */
export interface MaterializedCase extends ConformanceCase {
  uuid: string;
}

function appendQuery(path: string, params: Record<string, string>): string {
  const q = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  if (q === '') return path;
  return path.includes('?') ? `${path}&${q}` : `${path}?${q}`;
}

/** Resolves `{uuid}` (one fresh UUID per call, the same everywhere in the case), `{podIP:…}` and `{gateway}`. */
export function materializeCase(testCase: ConformanceCase, ctx: MaterializeContext = {}): MaterializedCase {
  const uuid = (ctx.uuid ?? randomUUID)();
  let text = JSON.stringify(testCase).replaceAll('{uuid}', uuid);
  text = text.replace(/\{podIP:([a-z0-9-]+)\}/g, (_m, name: string) => {
    const ip = ctx.podIP?.(name);
    if (ip === undefined) throw new CorpusError(`case ${testCase.id} needs {podIP:${name}} but no pod ${name} is running`);
    return ip.includes(':') ? `[${ip}]` : ip;
  });
  if (text.includes('{gateway}')) {
    if (ctx.gateway === undefined) throw new CorpusError(`case ${testCase.id} needs {gateway} but no gateway address was given`);
    text = text.replaceAll('{gateway}', ctx.gateway);
  }
  const out = JSON.parse(text) as MaterializedCase;
  out.uuid = uuid;
  const extra = out.request.appendQueryParam;
  if (extra !== undefined) {
    if (out.request.path !== undefined) out.request.path = appendQuery(out.request.path, extra);
    const br = out.expected.backendRequest;
    if (br?.path !== undefined && br.path !== '') br.path = appendQuery(br.path, extra);
  }
  return out;
}

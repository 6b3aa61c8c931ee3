// Whole-config checks that no single document can make: duplicate resources, more than one Mesh,
// route backendRefs (error when the Service is missing or lacks the port; warning when another
// namespace's Service is referenced without a ReferenceGrant), route parentRefs, workload services,
// and policy targetRefs (warning when the target is missing).
import type { KindDefinition } from './kinds-common.ts';
import { GATEWAY_GROUP, WEFT_GROUP } from './kinds-common.ts';
import type {
  ConfigIssueCode,
  ConfigIssueSeverity,
  GatewayConfig,
  LabelSelectorConfig,
  ListenerConfig,
  PolicyTargetRefConfig,
  ReferenceGrantConfig,
  ServiceConfig,
  SourceLocation,
} from './types.ts';
import type { PathSegment, RawIssue } from './schema.ts';

export interface ValidatedEntry {
  readonly def: KindDefinition;
  readonly config: any;
  readonly fileIndex: number;
  readonly docIndex: number;
  /** `Kind namespace/name`. */
  readonly resource: string;
}

export interface CrossIssue extends RawIssue {
  readonly fileIndex: number;
  readonly docIndex: number;
  readonly resource: string;
  readonly docLine: number;
  readonly docColumn: number;
}

function where(s: SourceLocation): string {
  return `${s.file}:${s.line}:${s.column}`;
}

function isServiceRef(group: string, kind: string): boolean {
  return kind === 'Service' && (group === '' || group === WEFT_GROUP);
}

/** Does a label selector (matchLabels and matchExpressions) select these labels? */
function selects(selector: LabelSelectorConfig, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
    if (e.operator === 'In' && !(has && e.values.includes(value as string))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(value as string)) return false;
  }
  return true;
}

/** Route kinds a listener accepts when `allowedRoutes.kinds` is empty (per protocol, as the spec says). */
const DEFAULT_ROUTE_KINDS: Record<string, readonly string[]> = {
  HTTP: ['HTTPRoute', 'GRPCRoute'],
  HTTPS: ['HTTPRoute', 'GRPCRoute'],
  TLS: ['TLSRoute'],
  TCP: ['TCPRoute'],
  UDP: ['UDPRoute'],
};

/**
 * Whether a listener lets a route of `kind` from `namespace` attach. `undefined` when that cannot be
 * told (a Selector and no Namespace resource with labels for the route's namespace).
 */
function listenerAllows(l: ListenerConfig, gatewayNs: string, kind: string, namespace: string, namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>): boolean | undefined {
  const kinds = l.allowedRoutes.kinds.length > 0 ? l.allowedRoutes.kinds.filter((k) => k.group === GATEWAY_GROUP).map((k) => k.kind) : (DEFAULT_ROUTE_KINDS[l.protocol] ?? []);
  if (!kinds.includes(kind)) return false;
  switch (l.allowedRoutes.namespacesFrom) {
    case 'All':
      return true;
    case 'Same':
      return namespace === gatewayNs;
    case 'None':
      return false;
    case 'Selector': {
      const labels = namespaceLabels.get(namespace);
      if (labels === undefined || l.allowedRoutes.namespaceSelector === undefined) return undefined;
      return selects(l.allowedRoutes.namespaceSelector, labels);
    }
  }
}

export function crossCheck(entries: readonly ValidatedEntry[], namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map()): CrossIssue[] {
  const out: CrossIssue[] = [];
  const issue = (
    e: ValidatedEntry,
    code: ConfigIssueCode,
    severity: ConfigIssueSeverity,
    path: readonly PathSegment[],
    message: string,
    extra: { expected?: string; found?: string; atKey?: boolean } = {},
  ): void => {
    const src = (e.config as { source: SourceLocation }).source;
    out.push({
      code,
      severity,
      path,
      atKey: extra.atKey ?? false,
      message,
      ...(extra.expected !== undefined ? { expected: extra.expected } : {}),
      ...(extra.found !== undefined ? { found: extra.found } : {}),
      fileIndex: e.fileIndex,
      docIndex: e.docIndex,
      resource: e.resource,
      docLine: src.line,
      docColumn: src.column,
    });
  };

  // Duplicates (per collection, so a Kubernetes and a weft Service with one name collide) and Mesh count.
  const seen = new Map<string, ValidatedEntry>();
  const unique: ValidatedEntry[] = [];
  let firstMesh: ValidatedEntry | undefined;
  for (const e of entries) {
    if (e.def.collection === 'mesh') {
      if (firstMesh !== undefined) {
        issue(e, 'MULTIPLE_MESH', 'error', ['metadata', 'name'], `a second Mesh resource \`${e.config.name}\`; only one is allowed (first: \`${firstMesh.config.name}\` at ${where(firstMesh.config.source)})`, {
          expected: 'at most one Mesh',
          found: 'two',
        });
      } else firstMesh = e;
      continue;
    }
    const id = `${e.def.collection}|${e.config.key}`;
    const first = seen.get(id);
    if (first !== undefined) {
      issue(e, 'DUPLICATE_RESOURCE', 'error', ['metadata', 'name'], `duplicate ${e.def.kind} \`${e.config.key}\`; first defined at ${where(first.config.source)}`, {
        expected: 'unique kind/namespace/name',
        found: e.config.key,
      });
      continue;
    }
    seen.set(id, e);
    unique.push(e);
  }

  const services = new Map<string, ServiceConfig>();
  const gateways = new Map<string, GatewayConfig>();
  const routes = new Map<string, Set<string>>([
    ['HTTPRoute', new Set()],
    ['GRPCRoute', new Set()],
  ]);
  const grants: ReferenceGrantConfig[] = [];
  const namespaces = new Set<string>();
  for (const e of unique) {
    const c = e.config;
    namespaces.add(c.metadata.namespace);
    if (e.def.collection === 'services') services.set(c.key, c);
    else if (e.def.collection === 'gateways') gateways.set(c.key, c);
    else if (e.def.collection === 'httpRoutes' || e.def.collection === 'grpcRoutes') routes.get(e.def.kind)?.add(c.key);
    else if (e.def.collection === 'referenceGrants') grants.push(c);
  }

  const permitted = (fromKind: string, fromNs: string, toNs: string, toName: string): boolean =>
    grants.some(
      (g) =>
        g.metadata.namespace === toNs &&
        g.from.some((f) => f.group === GATEWAY_GROUP && f.kind === fromKind && f.namespace === fromNs) &&
        g.to.some((t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === toName)),
    );

  const checkBackend = (
    e: ValidatedEntry,
    ref: { group: string; kind: string; name: string; namespace: string; port: number | undefined; weight?: number },
    path: PathSegment[],
  ): void => {
    const routeNs = e.config.metadata.namespace;
    if (!isServiceRef(ref.group, ref.kind)) {
      issue(e, 'BACKEND_KIND_UNSUPPORTED', 'warning', [...path, 'kind'], `backend kind \`${ref.kind}\` (group \`${ref.group}\`) is not supported; requests for this backend get HTTP 500`, {
        expected: 'Service',
        found: ref.kind,
      });
      return;
    }
    const key = `${ref.namespace}/${ref.name}`;
    // GAMMA consumer route: a route may send traffic to the Service it is attached to (its parentRef)
    // in another namespace without a ReferenceGrant.
    const isOwnParent = (e.config.parentRefs as { group: string; kind: string; name: string; namespace: string }[]).some(
      (p) => isServiceRef(p.group, p.kind) && p.namespace === ref.namespace && p.name === ref.name,
    );
    if (ref.namespace !== routeNs && !isOwnParent && !permitted(e.def.kind, routeNs, ref.namespace, ref.name)) {
      issue(
        e,
        'REF_NOT_PERMITTED',
        'warning',
        [...path, 'namespace'],
        `backend Service \`${key}\` is in another namespace and no ReferenceGrant in \`${ref.namespace}\` allows ${e.def.kind}s from \`${routeNs}\`; requests for this backend get HTTP 500`,
        { expected: 'a ReferenceGrant', found: ref.namespace },
      );
      return;
    }
    const svc = services.get(key);
    if (svc === undefined) {
      // A backend with weight 0 receives no traffic, so its absence cannot hurt: a warning.
      const unused = ref.weight === 0;
      issue(e, 'BACKEND_NOT_FOUND', unused ? 'warning' : 'error', [...path, 'name'], `backend Service \`${key}\` does not exist${unused ? ' (weight 0: it would receive no traffic)' : ''}`, {
        expected: 'an existing Service',
        found: key,
      });
      return;
    }
    if (ref.port !== undefined && svc.ports.length > 0 && !svc.ports.some((p) => p.port === ref.port)) {
      const ports = svc.ports.map((p) => p.port).join(', ');
      issue(e, 'BACKEND_PORT_NOT_FOUND', 'error', [...path, 'port'], `Service \`${key}\` has no port ${ref.port} (its ports: ${ports})`, { expected: `one of ${ports}`, found: `integer ${ref.port}` });
    }
  };

  const checkFilters = (e: ValidatedEntry, filters: readonly any[], path: PathSegment[]): void => {
    filters.forEach((f, k) => {
      if (f.type === 'RequestMirror') checkBackend(e, f.requestMirror.backendRef, [...path, k, 'requestMirror', 'backendRef']);
    });
  };

  const checkParent = (e: ValidatedEntry, p: any, path: PathSegment[]): void => {
    const key = `${p.namespace}/${p.name}`;
    if (p.kind === 'Gateway' && p.group === GATEWAY_GROUP) {
      const gw = gateways.get(key);
      if (gw === undefined) {
        issue(e, 'PARENT_NOT_FOUND', 'warning', [...path, 'name'], `parent Gateway \`${key}\` does not exist; the route is not attached`, { expected: 'an existing Gateway', found: key });
        return;
      }
      if (p.sectionName !== undefined && !gw.listeners.some((l) => l.name === p.sectionName)) {
        issue(e, 'PARENT_NOT_FOUND', 'warning', [...path, 'sectionName'], `Gateway \`${key}\` has no listener \`${p.sectionName}\`; the route is not attached`, {
          expected: `one of ${gw.listeners.map((l) => l.name).join(', ')}`,
          found: p.sectionName,
        });
      }
      if (p.port !== undefined && !gw.listeners.some((l) => l.port === p.port)) {
        issue(e, 'PARENT_NOT_FOUND', 'warning', [...path, 'port'], `Gateway \`${key}\` has no listener on port ${p.port}; the route is not attached`, {
          expected: `one of ${[...new Set(gw.listeners.map((l) => l.port))].join(', ')}`,
          found: `integer ${p.port}`,
        });
        return;
      }
      const candidates = gw.listeners.filter((l) => (p.sectionName === undefined || l.name === p.sectionName) && (p.port === undefined || l.port === p.port));
      if (candidates.length === 0) return;
      const verdicts = candidates.map((l) => listenerAllows(l, gw.metadata.namespace, e.def.kind, e.config.metadata.namespace, namespaceLabels));
      if (verdicts.every((v) => v === false)) {
        issue(
          e,
          'ROUTE_NOT_ALLOWED',
          'warning',
          [...path, 'name'],
          `Gateway \`${key}\` does not allow ${e.def.kind}s from namespace \`${e.config.metadata.namespace}\` (allowedRoutes); the route is not attached`,
          { expected: 'a listener whose allowedRoutes admit this route', found: e.config.metadata.namespace },
        );
      }
    } else if (isServiceRef(p.group, p.kind)) {
      const svc = services.get(key);
      if (svc === undefined) {
        issue(e, 'PARENT_NOT_FOUND', 'warning', [...path, 'name'], `parent Service \`${key}\` does not exist; the route is not attached`, { expected: 'an existing Service', found: key });
      } else if (p.port !== undefined && svc.ports.length > 0 && !svc.ports.some((sp) => sp.port === p.port)) {
        issue(e, 'PARENT_NOT_FOUND', 'warning', [...path, 'port'], `parent Service \`${key}\` has no port ${p.port}; the route is not attached`, { expected: 'a port of the Service', found: `integer ${p.port}` });
      }
    } else {
      issue(e, 'PARENT_NOT_FOUND', 'warning', [...path, 'kind'], `parent kind \`${p.kind}\` (group \`${p.group}\`) is not supported; the route is not attached`, { expected: 'Gateway or Service', found: p.kind });
    }
  };

  const checkTarget = (e: ValidatedEntry, t: PolicyTargetRefConfig, path: PathSegment[]): void => {
    const ns = e.config.metadata.namespace;
    const key = `${ns}/${t.name}`;
    let exists: boolean;
    if (t.kind === 'Namespace') exists = namespaces.has(t.name);
    else if (t.kind === 'Service') {
      const svc = services.get(key);
      exists = svc !== undefined;
      if (svc !== undefined && t.sectionName !== undefined && !svc.ports.some((p) => p.name === t.sectionName)) {
        issue(e, 'TARGET_NOT_FOUND', 'warning', [...path, 'sectionName'], `Service \`${key}\` has no port named \`${t.sectionName}\`; the policy does not apply`, { expected: 'a port name of the Service', found: t.sectionName });
      }
      if (svc !== undefined && t.port !== undefined && !svc.ports.some((p) => p.port === t.port)) {
        issue(e, 'TARGET_NOT_FOUND', 'warning', [...path, 'port'], `Service \`${key}\` has no port ${t.port}; the policy does not apply`, { expected: 'a port of the Service', found: `integer ${t.port}` });
      }
    } else if (t.kind === 'Gateway') exists = gateways.has(key);
    else exists = routes.get(t.kind)?.has(key) ?? false;
    if (!exists) {
      const what = t.kind === 'Namespace' ? `Namespace \`${t.name}\`` : `${t.kind} \`${key}\``;
      issue(e, 'TARGET_NOT_FOUND', 'warning', [...path, 'name'], `policy target ${what} does not exist; the policy does not apply to it`, { expected: `an existing ${t.kind}`, found: t.name });
    }
  };

  for (const e of unique) {
    const c = e.config;
    switch (e.def.collection) {
      case 'httpRoutes':
      case 'grpcRoutes':
        c.parentRefs.forEach((p: any, i: number) => checkParent(e, p, ['spec', 'parentRefs', i]));
        c.rules.forEach((r: any, i: number) => {
          checkFilters(e, r.filters, ['spec', 'rules', i, 'filters']);
          r.backendRefs.forEach((b: any, j: number) => {
            checkBackend(e, b, ['spec', 'rules', i, 'backendRefs', j]);
            checkFilters(e, b.filters, ['spec', 'rules', i, 'backendRefs', j, 'filters']);
          });
        });
        break;
      case 'workloads':
        if (!services.has(`${c.metadata.namespace}/${c.service}`)) {
          issue(e, 'SERVICE_NOT_FOUND', 'error', ['spec', 'service'], `Service \`${c.metadata.namespace}/${c.service}\` does not exist`, { expected: 'an existing Service in the same namespace', found: c.service });
        }
        break;
      case 'mtlsPolicies':
      case 'authorizationPolicies':
      case 'backendTrafficPolicies':
      case 'rateLimitPolicies':
        c.targetRefs.forEach((t: PolicyTargetRefConfig, i: number) => checkTarget(e, t, ['spec', 'targetRefs', i]));
        break;
      default:
        break;
    }
  }
  return out;
}

// Schema pieces shared by several kinds: metadata, name patterns, parent/backend references,
// header modifiers and matches, policy targetRefs; plus the KindDefinition every kind exports.
import { s, req, type IntegerSchema, type MapSchema, type ObjectSchema, type Schema, type StringSchema, type ValidationContext } from './schema.ts';
import type { ObjectMetaConfig, SourceLocation } from './types.ts';

/** Shared, frozen empty values for absent lists and maps (saves an allocation and a freeze each). */
export const NONE: readonly never[] = Object.freeze([]);
export const EMPTY_RECORD: Readonly<Record<string, never>> = Object.freeze({});

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const WEFT_GROUP = 'weft.dev';
export const WEFT_API_VERSION = 'weft.dev/v1alpha1';

/** DNS-1123 subdomain: what Kubernetes accepts as most object names. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** DNS-1123 label: namespaces, port names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Gateway API hostname: a DNS name, optionally with a leading `*.` wildcard label. */
export const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** HTTP header name (RFC 7230 token). */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** Gateway API group: empty (core) or a DNS subdomain. */
export const GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Gateway API kind: starts with a letter. */
export const KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** Gateway API section name (listener name, port name, rule name). */
export const SECTION_NAME = DNS_SUBDOMAIN;

export const name = (description: string): StringSchema =>
  s.string({ description, pattern: DNS_SUBDOMAIN, patternName: 'name (lower-case letters, digits, `-` and `.`; DNS-1123)', minLength: 1, maxLength: 253 });
export const namespaceName = (description: string): StringSchema =>
  s.string({ description, pattern: DNS_LABEL, patternName: 'namespace (lower-case letters, digits and `-`; DNS-1123 label)', minLength: 1, maxLength: 63 });
export const port = (description: string): IntegerSchema => s.integer({ description, minimum: 1, maximum: 65535 });
export const hostname = (description: string): StringSchema =>
  s.string({
    description,
    pattern: HOSTNAME,
    patternName: 'hostname (a DNS name, optionally starting with `*.`)',
    minLength: 1,
    maxLength: 253,
    check: (v: string, ctx) => {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(v)) ctx.issue('INVALID_VALUE', `${JSON.stringify(v)} is an IP address; expected a hostname`, { expected: 'a DNS name', found: `string ${JSON.stringify(v)}` });
    },
  });
export const headerName = (description: string): StringSchema =>
  s.string({ description, pattern: HEADER_NAME, patternName: 'HTTP header name', minLength: 1, maxLength: 256 });
export const group = (description: string, dflt?: string): StringSchema =>
  s.string({ description, pattern: GROUP, patternName: 'API group (empty or a DNS name)', maxLength: 253, ...(dflt !== undefined ? { default: dflt } : {}) });
export const kind = (description: string, dflt?: string): StringSchema =>
  s.string({ description, pattern: KIND, patternName: 'kind', minLength: 1, maxLength: 63, ...(dflt !== undefined ? { default: dflt } : {}) });
export const sectionName = (description: string): StringSchema =>
  s.string({ description, pattern: SECTION_NAME, patternName: 'section name (DNS-1123)', minLength: 1, maxLength: 253 });

const labelMap = (description: string): MapSchema<StringSchema> =>
  s.map(s.string({ maxLength: 63 * 1024 }), {
    description,
    keyPattern: /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    keyPatternName: 'label key (`prefix/name`)',
  });

/** `metadata`: name (required), namespace, labels, annotations; Kubernetes bookkeeping fields are accepted and ignored. */
export const metadataSchema = (namespaced: boolean): ObjectSchema =>
  s.object(
    {
      name: req(name('Name, unique per kind and namespace.')),
      ...(namespaced ? { namespace: namespaceName('Namespace. Default `default`.') } : {}),
      labels: labelMap('Labels (string values).'),
      annotations: s.map(s.string(), { description: 'Annotations (string values).' }),
    },
    {
      description: 'Standard object metadata.',
      // A namespace on a cluster-scoped kind (Mesh) is ignored, as Kubernetes does.
      ignoredFields: [...(namespaced ? [] : ['namespace']), 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'ownerReferences', 'finalizers', 'generateName', 'selfLink'],
    },
  );

/** A route's parentRef: a Gateway (default) or a Service (GAMMA, group ''). */
export const parentRefSchema = s.object(
  {
    group: group('API group of the parent. Default `gateway.networking.k8s.io`; `""` for a Service (GAMMA).', GATEWAY_GROUP),
    kind: kind('Kind of the parent: `Gateway` (default) or `Service` (GAMMA, east-west).', 'Gateway'),
    namespace: namespaceName("Namespace of the parent. Default: the route's namespace."),
    name: req(name('Name of the parent.')),
    sectionName: sectionName('Listener name (Gateway) or port name (Service).'),
    port: port('Listener port (Gateway) or service port (Service).'),
  },
  { description: 'A parent (Gateway or Service) the route attaches to.' },
);

const backendRefFields = {
  group: group('API group of the backend. Default `""` (core: Service).', ''),
  kind: kind('Kind of the backend. Default `Service`.', 'Service'),
  name: req(name('Name of the backend.')),
  namespace: namespaceName("Namespace of the backend. Default: the route's namespace; another namespace needs a ReferenceGrant."),
  port: port('Port of the backend; required for a Service.'),
};

/** Requires `port` when the reference is to a Service. */
export const requirePortForService = (value: { kind: string; group: string; port?: number }, ctx: ValidationContext): void => {
  if (value.kind === 'Service' && (value.group === '' || value.group === WEFT_GROUP) && value.port === undefined) {
    ctx.issue('MISSING_FIELD', 'missing required field `port` (required when the backend is a Service)', { at: ['port'], expected: 'integer' });
  }
};

export const backendObjectRefSchema = s.object(backendRefFields, {
  description: 'A reference to a backend (a Service by default).',
  check: requirePortForService,
});

export const backendRefFieldsWith = <E extends Record<string, Schema>>(extra: E) =>
  s.object({ ...backendRefFields, ...extra }, { description: 'A weighted backend of a rule.', check: requirePortForService });

const httpHeader = s.object({
  name: req(headerName('Header name (case-insensitive).')),
  value: req(s.string({ description: 'Header value.', maxLength: 4096 })),
});

function uniqueHeaderNames(list: readonly { name: string }[] | undefined, field: string, ctx: ValidationContext): void {
  if (list === undefined) return;
  const seen = new Map<string, number>();
  list.forEach((h, i) => {
    const lower = h.name.toLowerCase();
    const first = seen.get(lower);
    if (first !== undefined) {
      ctx.issue('INVALID_VALUE', `header \`${h.name}\` appears twice in \`${field}\` (also at index ${first}); header names must be unique (case-insensitive)`, {
        at: [field, i, 'name'],
        expected: 'unique header names',
        found: h.name,
      });
    } else seen.set(lower, i);
  });
}

export const headerModifierSchema = s.object(
  {
    set: s.array(httpHeader, { description: 'Headers to overwrite (or add).', maxItems: 16 }),
    add: s.array(httpHeader, { description: 'Headers to append.', maxItems: 16 }),
    remove: s.array(headerName('Header to remove.'), { description: 'Header names to remove.', maxItems: 16 }),
  },
  {
    description: 'Header edits: set, add, remove.',
    check: (v: { set?: { name: string }[]; add?: { name: string }[] }, ctx) => {
      uniqueHeaderNames(v.set, 'set', ctx);
      uniqueHeaderNames(v.add, 'add', ctx);
    },
  },
);

/** Compiles a JavaScript regular expression, reporting a syntax error as INVALID_VALUE. */
export function checkRegex(pattern: string, at: readonly (string | number)[], ctx: ValidationContext): void {
  try {
    new RegExp(pattern);
  } catch (error) {
    ctx.issue('INVALID_VALUE', `invalid regular expression: ${(error as Error).message}`, { at, expected: 'a valid regular expression', found: JSON.stringify(pattern) });
  }
}

export const headerMatchSchema = (what: string) =>
  s.object(
    {
      type: s.enum(['Exact', 'RegularExpression'], { description: 'How `value` is matched. Default `Exact`.', default: 'Exact' }),
      name: req(what === 'header' ? headerName('Header name (case-insensitive).') : s.string({ description: 'Query parameter name (case-sensitive).', minLength: 1, maxLength: 256 })),
      value: req(s.string({ description: 'Value to match.', maxLength: 4096 })),
    },
    {
      description: `A ${what} match.`,
      check: (v: { type: string; value: string }, ctx) => {
        if (v.type === 'RegularExpression') checkRegex(v.value, ['value'], ctx);
      },
    },
  );

export const POLICY_TARGET_KINDS = ['Namespace', 'Service', 'Gateway', 'HTTPRoute', 'GRPCRoute'] as const;

export const targetRefSchema = s.object(
  {
    group: group('API group of the target: `""` for Namespace and Service, `gateway.networking.k8s.io` for Gateway and routes.', ''),
    kind: req(s.enum([...POLICY_TARGET_KINDS], { description: 'Kind of the target.' })),
    name: req(name("Name of the target (in the policy's namespace; for Namespace, the namespace's name).")),
    sectionName: sectionName('A port name (Service), listener name (Gateway) or rule name (route).'),
    port: port('A Service port (weft extension).'),
  },
  { description: 'What the policy attaches to (Gateway API policy attachment).' },
);

export const targetRefsSchema = s.array(targetRefSchema, {
  description: "Targets of the policy. Absent or empty: the policy's whole namespace.",
  maxItems: 16,
});

/** The fields every validated resource carries, handed to a kind's builder. */
export interface ResourceBaseFields {
  readonly apiVersion: string;
  readonly metadata: ObjectMetaConfig;
  readonly key: string;
  readonly source: SourceLocation;
}

/** One resource kind: its accepted apiVersions, its spec schema, and how a valid spec becomes its Config. */
export interface KindDefinition {
  readonly kind: string;
  /** Accepted apiVersions, preferred first. */
  readonly apiVersions: readonly string[];
  readonly namespaced: boolean;
  readonly description: string;
  /** Top-level field holding the spec; `spec` for all but a few foreign kinds. */
  readonly spec: ObjectSchema;
  readonly specRequired: boolean;
  /** The MeshConfig collection the resource lands in (`mesh` for the Mesh kind). */
  readonly collection:
    | 'mesh'
    | 'services'
    | 'workloads'
    | 'gateways'
    | 'httpRoutes'
    | 'grpcRoutes'
    | 'referenceGrants'
    | 'mtlsPolicies'
    | 'authorizationPolicies'
    | 'backendTrafficPolicies'
    | 'rateLimitPolicies';
  /** Turns the normalised spec into the kind's Config; may report semantic issues relative to `spec`. */
  build(spec: any, base: ResourceBaseFields, ctx: ValidationContext): object;
  /** JSON Schema file name under schemas/. */
  readonly schemaFile: string;
}

// Loads compiler fixtures (test/fixtures/compiler/<case>/{mesh.yaml,proxies.yaml}) into a mesh
// snapshot and proxy descriptors, and renders compiled resources as stable JSON for golden files.
// Used by the golden tests, the simulator tests and `weft config --explain`-style tooling.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateDocuments } from '../../config/validate.ts';
import { formatIssues } from '../../config/format.ts';
import { WeftError } from '../../core/errors.ts';
import { Registry } from '../registry.ts';
import type { MeshSnapshot } from './mesh-index.ts';
import type { ProxyDescriptor } from './compile.ts';

export const FIXTURE_TRUST_BUNDLE = '-----BEGIN CERTIFICATE-----\nRklYVFVSRQ==\n-----END CERTIFICATE-----\n';

export function loadFixture(dir: string): { snapshot: MeshSnapshot; proxies: ProxyDescriptor[] } {
  const text = readFileSync(join(dir, 'mesh.yaml'), 'utf8');
  const r = validateDocuments([{ source: 'mesh.yaml', text }]);
  if (!r.ok) throw new WeftError('FIXTURE_INVALID', `fixture ${dir} is invalid:\n${formatIssues(r.error, r.warnings)}`);
  const registry = new Registry();
  registry.setStatic(r.value.workloads.values(), r.value.mesh.trustDomain);
  const raw = parse(readFileSync(join(dir, 'proxies.yaml'), 'utf8')) as any[];
  const proxies: ProxyDescriptor[] = raw.map((p) => ({
    nodeId: p.nodeId,
    kind: p.kind ?? 'sidecar',
    namespace: p.namespace ?? 'default',
    service: p.service,
    serviceAccount: p.serviceAccount ?? 'default',
    ports: (p.ports ?? []).map((x: any) => ({ name: x.name ?? '', port: x.port })),
    inboundPort: p.inboundPort,
    upstreams: p.upstreams === undefined || p.upstreams.length === 0 ? undefined : p.upstreams,
  }));
  return { snapshot: { config: r.value, workloads: registry.view.current.workloads, trustBundlePem: FIXTURE_TRUST_BUNDLE }, proxies };
}

export { renderCompiled } from './render.ts';

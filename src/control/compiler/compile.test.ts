import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packAny } from '../../xds/resources.ts';
import { compileProxy, buildMeshIndex } from './compile.ts';
import { loadFixture, renderCompiled } from './fixtures.ts';

const ROOT = new URL('../../../test/fixtures/compiler/', import.meta.url).pathname;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

for (const name of readdirSync(ROOT).sort()) {
  const dir = join(ROOT, name);
  if (!existsSync(join(dir, 'mesh.yaml'))) continue;
  test(`golden: ${name}`, () => {
    const { snapshot, proxies } = loadFixture(dir);
    const index = buildMeshIndex(snapshot);
    for (const proxy of proxies) {
      const compiled = compileProxy(index, proxy);
      // Every resource must be a valid Envoy v3 message (packAny validates field by field).
      for (const l of compiled.listeners.values()) packAny('envoy.config.listener.v3.Listener', l);
      for (const r of compiled.routes.values()) packAny('envoy.config.route.v3.RouteConfiguration', r);
      for (const c of compiled.clusters.values()) packAny('envoy.config.cluster.v3.Cluster', c);
      for (const e of compiled.endpoints.values()) packAny('envoy.config.endpoint.v3.ClusterLoadAssignment', e);
      // Compiling from the snapshot directly gives the same result as from a shared index (purity).
      const rendered = renderCompiled(compiled);
      assert.equal(renderCompiled(compileProxy(snapshot, proxy)), rendered);
      const golden = join(dir, 'golden', `${proxy.nodeId}.json`);
      if (UPDATE || !existsSync(golden)) {
        mkdirSync(join(dir, 'golden'), { recursive: true });
        writeFileSync(golden, rendered);
        if (!UPDATE) assert.fail(`golden file ${golden} was missing and has been written; re-run`);
      } else {
        assert.equal(rendered, readFileSync(golden, 'utf8'), `compiled output for ${name}/${proxy.nodeId} differs from its golden file (UPDATE_GOLDEN=1 rewrites)`);
      }
    }
  });
}

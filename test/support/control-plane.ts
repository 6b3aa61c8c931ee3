// Test builders for the control plane: a config directory in a temp folder, a started control plane
// (real TLS xDS + identity on 127.0.0.1 port 0), workload identities issued by its CA, and xDS
// clients that announce a workload — so integration tests read like the scenario they check.
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/control/server.ts';
import { AdsClient, type AdsClientOptions, type XdsResourceSet } from '../../src/xds/client.ts';
import type { IdentityMaterial } from '../../src/identity/material.ts';

export { eventually } from './wait.ts';

/** weft `Service` resources (namespace default, one HTTP port 80 each) as one multi-document YAML. */
export function servicesYaml(...names: string[]): string {
  return names.map((name) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{name: http, port: 80}]}\n`).join('---\n');
}

export interface ConfigDir {
  readonly dir: string;
  /** Writes a file atomically (temp + rename, as editors do). */
  write(name: string, yaml: string): Promise<void>;
  remove(): Promise<void>;
}

export async function configDir(files: Record<string, string> = {}): Promise<ConfigDir> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-cp-'));
  const write = async (name: string, yaml: string) => {
    const tmp = join(dir, `.${name}.tmp`);
    await writeFile(tmp, yaml);
    await rename(tmp, join(dir, name));
  };
  for (const [n, y] of Object.entries(files)) await write(n, y);
  return { dir, write, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function controlPlane(options: Partial<ControlPlaneOptions> & { configDir: string }): Promise<ControlPlane> {
  return startControlPlane({ host: '127.0.0.1', xdsPort: 0, adminPort: 0, debounceMs: 20, maxDelayMs: 200, ...options });
}

/** A workload certificate from the control plane's CA (in-process: tests only). */
export function workloadIdentity(cp: ControlPlane, namespace: string, serviceAccount: string): Promise<IdentityMaterial> {
  return cp.authority!.issueDirect(`spiffe://${cp.trustDomain}/ns/${namespace}/sa/${serviceAccount}`);
}

export interface TestXdsClient {
  readonly client: AdsClient;
  readonly applied: XdsResourceSet[];
  latest(): XdsResourceSet | undefined;
  stop(): void;
}

export function xdsClient(cp: ControlPlane, opts: { id: string; identity?: IdentityMaterial; metadata?: Record<string, unknown>; mode?: 'sotw' | 'delta' } & Partial<AdsClientOptions>): TestXdsClient {
  const applied: XdsResourceSet[] = [];
  const id = opts.identity;
  const client = new AdsClient({
    target: cp.xdsTarget,
    tls: id ? { caPem: id.trustBundlePem, certChainPem: id.certChainPem, keyPem: id.keyPem, serverSpiffeId: `spiffe://${cp.trustDomain}/ns/weft-system/sa/weft-control` } : 'insecure',
    node: { id: opts.id, metadata: opts.metadata ?? {} },
    backoff: { initialMs: 50, maxMs: 400 },
    apply: (set) => applied.push(set),
    ...opts,
  });
  client.start();
  return { client, applied, latest: () => applied[applied.length - 1], stop: () => client.stop() };
}

export async function getJson<T = any>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

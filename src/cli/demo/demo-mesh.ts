// The demo mesh that `weft demo` (and `npm start`) runs: a real control plane with its CA, three
// small apps, and one real `weft proxy --control` process per app, wired exactly as an operator
// would by hand (token and trust bundle from the CA, config only over xDS). Traffic from a load
// loop enters the frontend's proxy in plaintext (PERMISSIVE, the migration mode), and the frontend
// calls `reviews` over mTLS, split 90/10 between v1 and v2, with `x-canary: true` always on v2.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WeftError } from '../../core/errors.ts';
import { startControlPlane, type ControlPlane } from '../../control/server.ts';
import { startDemoApp, type DemoApp } from './demo-apps.ts';

export const DEMO_NAMESPACE = 'demo';
export const DEMO_TRUST_DOMAIN = 'demo.weft.local';

export class DemoError extends WeftError {
  constructor(message: string, cause?: unknown) {
    super('DEMO_FAILED', message, cause === undefined ? {} : { cause });
  }
}

export interface DemoOptions {
  /** The `weft` entry script the proxies are started with (this process's own). */
  readonly weftEntry: string;
  /** Requests per second the load loop sends to the frontend. */
  readonly rps: number;
  /** Ports for the control plane; 0 = any. The defaults (15010/15014) let `weft status` work without flags. */
  readonly xdsPort: number;
  readonly adminPort: number;
  /** Called with each line a proxy writes to stderr (warnings and errors). */
  readonly onProxyLog?: (workload: string, line: string) => void;
}

export interface DemoStats {
  requests: number;
  ok: number;
  errors: number;
  /** Responses by the reviews version that answered, for ordinary requests. */
  readonly split: Record<string, number>;
  /** Responses by version for requests that carried `x-canary: true`. */
  readonly canary: Record<string, number>;
  /** `weft-error` codes and statuses of failed requests. */
  readonly failures: Record<string, number>;
}

export interface DemoProxy {
  readonly workload: string;
  readonly nodeId: string;
  readonly inboundPort: number | undefined;
  readonly outboundPort: number | undefined;
}

export interface DemoMesh {
  readonly control: ControlPlane;
  readonly proxies: readonly DemoProxy[];
  /** Plaintext entry into the mesh: the frontend proxy's inbound port (PERMISSIVE). */
  readonly frontendUrl: string;
  readonly stats: DemoStats;
  readonly workDir: string;
  close(): Promise<void>;
}

const CONFIG = `# The demo mesh (namespace ${DEMO_NAMESPACE}). Edit this file while the demo runs: the control plane
# validates the change and pushes it to the proxies; an invalid edit is refused and the last good
# config keeps serving.
apiVersion: weft.dev/v1alpha1
kind: Mesh
metadata: {name: demo}
spec: {trustDomain: ${DEMO_TRUST_DOMAIN}, mtls: {mode: STRICT}}
---
${['frontend', 'reviews', 'reviews-v1', 'reviews-v2']
  .map((name) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: ${name}, namespace: ${DEMO_NAMESPACE}}\nspec: {ports: [{name: http, port: 80, appProtocol: http}]}\n`)
  .join('---\n')}---
# The frontend also accepts plaintext: the load loop (outside the mesh) calls it directly.
apiVersion: weft.dev/v1alpha1
kind: MTLSPolicy
metadata: {name: frontend-permissive, namespace: ${DEMO_NAMESPACE}}
spec:
  targetRefs: [{kind: Service, name: frontend}]
  mode: PERMISSIVE
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: ${DEMO_NAMESPACE}}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 80}]
  rules:
    - matches: [{headers: [{name: x-canary, value: "true"}]}]
      backendRefs: [{name: reviews-v2, port: 80}]
    - backendRefs:
        - {name: reviews-v1, port: 80, weight: 90}
        - {name: reviews-v2, port: 80, weight: 10}
`;

interface Started {
  readonly child: ChildProcess;
  readonly proxy: DemoProxy;
}

/** Starts `weft proxy --control …` for one workload and waits for its "listening" line. */
const START_TIMEOUT_MS = 60_000;

function startProxy(o: DemoOptions, children: ChildProcess[], workDir: string, control: string, workload: string, appPort: number | undefined, upstreams: string | undefined): Promise<Started> {
  const bootstrap = join(workDir, `${workload}.yaml`);
  const inbound = appPort === undefined ? 'null' : '{address: 127.0.0.1, port: 0}';
  const ports = appPort === undefined ? '' : `, inbound: {ports: [{port: ${appPort}, protocol: http1}]}`;
  writeFileSync(bootstrap, `workload: {name: ${workload}${ports}}\nlisteners: {outbound: {address: 127.0.0.1, port: 0}, inbound: ${inbound}, admin: null}\n`);
  const nodeId = `${workload}-1`;
  const args = [o.weftEntry, 'proxy', '--bootstrap', bootstrap, '--control', control, '--token', join(workDir, `${workload}.token`), '--ca', join(workDir, 'ca.pem'), '--node-id', nodeId];
  if (upstreams) args.push('--upstreams', upstreams);
  const child = spawn(process.execPath, args, { env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Tracked before anything can fail, so the demo's shutdown stops it whatever happens next.
  children.push(child);
  createInterface({ input: child.stderr! }).on('line', (line) => o.onProxyLog?.(workload, line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new DemoError(`the ${workload} proxy did not start listening within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const first = JSON.parse(line) as { inbound?: number; outbound?: number };
        resolve({ child, proxy: { workload, nodeId, inboundPort: first.inbound, outboundPort: first.outbound } });
      } catch (error) {
        reject(new DemoError(`the ${workload} proxy printed ${JSON.stringify(line)} instead of its listening line`, error));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new DemoError(`the ${workload} proxy exited with code ${code} before listening (its log is above)`));
    });
  });
}

/** The control plane on the default ports when they are free, otherwise on any port. */
async function startControl(configDir: string, stateDir: string, o: DemoOptions): Promise<ControlPlane> {
  const options = { configDir, stateDir, host: '127.0.0.1', graceMs: 2_000, warmupMs: 0 };
  try {
    return await startControlPlane({ ...options, xdsPort: o.xdsPort, adminPort: o.adminPort });
  } catch (error) {
    if (o.xdsPort === 0 && o.adminPort === 0) throw error;
    return startControlPlane({ ...options, xdsPort: 0, adminPort: 0 });
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** One request from the load loop: plaintext into the frontend proxy's inbound port. */
function requestOnce(port: number, canary: boolean): Promise<{ status: number; version?: string; weftError?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: keepAlive, headers: canary ? { 'x-canary': 'true' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let version: string | undefined;
        try {
          version = (JSON.parse(body) as { reviews?: { version?: string } }).reviews?.version;
        } catch {
          version = undefined;
        }
        const weftError = res.headers['weft-error'];
        resolve({ status: res.statusCode ?? 0, version, weftError: typeof weftError === 'string' ? weftError.split(';')[0] : undefined });
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, weftError: e.code ?? 'CONNECTION_FAILED' }));
  });
}
async function untilServing(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await requestOnce(port, false);
    if (r.status === 200 && r.version) return;
    last = r.weftError ?? `HTTP ${r.status}`;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new DemoError(`the mesh did not serve a request within ${timeoutMs / 1000} s (last answer: ${last})`);
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });

export async function startDemoMesh(o: DemoOptions): Promise<DemoMesh> {
  const workDir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  const configDir = join(workDir, 'config');
  const stateDir = join(workDir, 'state');
  const children: ChildProcess[] = [];
  const apps: DemoApp[] = [];
  let control: ControlPlane | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight = 0;
  const close = async (): Promise<void> => {
    if (timer) clearInterval(timer);
    // Let the requests already sent finish, so stopping the demo does not count as failures.
    for (let waited = 0; inFlight > 0 && waited < 3_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all(children.map(stopChild));
    await Promise.all(apps.map((a) => a.close()));
    keepAlive.destroy();
    await control?.close();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    writeFileSync(join(workDir, 'README'), 'weft demo: config/ is watched by the control plane; state/ holds the CA (removed on exit).\n');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'mesh.yaml'), CONFIG);
    control = await startControl(configDir, stateDir, o);
    const authority = control.authority!;
    writeFileSync(join(workDir, 'ca.pem'), authority.bundle.current.pem);
    // Tokens are credentials: written 0600, like `weft identity token > file` under a sane umask.
    for (const [workload, serviceAccount] of [['frontend', 'frontend'], ['reviews-v1', 'reviews'], ['reviews-v2', 'reviews']] as const) {
      const { token } = await authority.issueToken({ namespace: DEMO_NAMESPACE, serviceAccount });
      writeFileSync(join(workDir, `${workload}.token`), token, { mode: 0o600 });
    }

    const v1 = await startDemoApp({ kind: 'reviews', version: 'v1' });
    const v2 = await startDemoApp({ kind: 'reviews', version: 'v2' });
    apps.push(v1, v2);
    const reviewsV1 = await startProxy(o, children, workDir, control.xdsTarget, 'reviews-v1', v1.port, undefined);
    const reviewsV2 = await startProxy(o, children, workDir, control.xdsTarget, 'reviews-v2', v2.port, undefined);
    // The frontend needs its own proxy's outbound port to call reviews, and the proxy needs the
    // app's port: the app starts first and learns the outbound port once the proxy is up.
    const frontendApp = await startDemoApp({ kind: 'frontend' });
    apps.push(frontendApp);
    const frontend = await startProxy(o, children, workDir, control.xdsTarget, 'frontend', frontendApp.port, 'reviews');
    frontendApp.setReviewsProxyPort(frontend.proxy.outboundPort!);

    // The proxies are listening; their routes arrive over xDS a moment later. Start the load once a
    // request gets through the whole path, so the numbers count the mesh, not its start-up.
    await untilServing(frontend.proxy.inboundPort!);

    const stats: DemoStats = { requests: 0, ok: 0, errors: 0, split: {}, canary: {}, failures: {} };
    const frontendPort = frontend.proxy.inboundPort!;
    let sent = 0;
    const tick = (): void => {
      const canary = sent++ % 10 === 9;
      stats.requests++;
      inFlight++;
      void requestOnce(frontendPort, canary).then((r) => {
        inFlight--;
        if (r.status === 200 && r.version) {
          stats.ok++;
          const bucket = canary ? stats.canary : stats.split;
          bucket[r.version] = (bucket[r.version] ?? 0) + 1;
        } else {
          stats.errors++;
          const key = r.weftError ?? `HTTP ${r.status}`;
          stats.failures[key] = (stats.failures[key] ?? 0) + 1;
        }
      });
    };
    timer = setInterval(tick, Math.max(1, Math.round(1000 / o.rps)));
    return {
      control,
      proxies: [frontend.proxy, reviewsV1.proxy, reviewsV2.proxy],
      frontendUrl: `http://127.0.0.1:${frontendPort}/`,
      stats,
      workDir,
      close,
    };
  } catch (error) {
    await close();
    throw error instanceof WeftError ? error : new DemoError('the demo mesh did not start', error);
  }
}

// `weft identity …`: workload tokens, the trust bundle, certificates for debugging and non-mesh clients
// (these work from the CA state directory), and status / rotate-root / recover (through the admin API).
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseNonNegativeInt, parsePort, parsePositiveNumber, usageError } from './cli-errors.ts';
import { parseDuration } from '../../config/index.ts';
import { IdentityAuthority, type IdentityStatus } from '../../control/identity/authority.ts';
import { startIdentityServer } from '../../control/identity/harness.ts';
import { FileCaStateStore } from '../../control/identity/state-store.ts';
import { WorkloadTokens } from '../../control/identity/tokens.ts';
import { makeBundle } from '../../identity/bundle.ts';
import { IdentityError } from '../../identity/errors.ts';
import type { KeyType } from '../../identity/keys.ts';
import { parseSpiffeId } from '../../identity/spiffe.ts';

const DEFAULT_STATE = process.env.WEFT_STATE_DIR ?? '/var/lib/weft';
const DEFAULT_ADMIN = process.env.WEFT_ADMIN_URL ?? 'http://127.0.0.1:15014';

/** Durations: Gateway API form (`24h`, `90m`) plus days (`30d`, `365d`). */
export function parseTtl(text: string, what: string): number {
  const days = /^([0-9]{1,5})d$/.exec(text);
  if (days) return Number(days[1]) * 24 * 3600_000;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new IdentityError('IDENTITY_CA_STATE_INVALID', `${what} "${text}" is not a duration; use e.g. 30d, 24h, 90m`);
  return ms;
}

async function openState(stateDir: string, trustDomain: string | undefined): Promise<IdentityAuthority> {
  const store = new FileCaStateStore(stateDir);
  const state = await store.load();
  if (state && state.roots.some((r) => !r.keyPem)) {
    throw new IdentityError('IDENTITY_CA_UNAVAILABLE', `the CA in ${stateDir} uses a plug-in CA; issue certificates with your external CA`);
  }
  if (state && trustDomain && state.trustDomain !== trustDomain) {
    throw new IdentityError('IDENTITY_CA_STATE_INVALID', `the CA in ${stateDir} is for trust domain "${state.trustDomain}", not "${trustDomain}"`);
  }
  return IdentityAuthority.open({ trustDomain: state?.trustDomain ?? trustDomain ?? 'cluster.local', store });
}

async function admin(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(path, url), { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (cause) {
    throw new IdentityError('IDENTITY_UNAVAILABLE', `cannot reach the control plane admin API at ${url} (is \`weft control\` or \`weft identity serve\` running? pass --admin URL)`, { cause });
  }
  const text = await res.text();
  const json = (() => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  })();
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } }).error;
    throw new IdentityError('IDENTITY_CA_UNAVAILABLE', e?.message ?? `admin API answered ${res.status}`);
  }
  return json;
}

/** Option parser for duration flags: a bad value is a usage error (exit 2). */
function ttlFlag(flag: string): (text: string) => string {
  return (text) => {
    try {
      parseTtl(text, flag);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
    return text;
  };
}

function ago(seconds: number): string {
  const abs = Math.abs(seconds);
  const t = abs >= 86400 ? `${Math.floor(abs / 86400)}d` : abs >= 3600 ? `${Math.floor(abs / 3600)}h` : abs >= 60 ? `${Math.floor(abs / 60)}m` : `${abs}s`;
  return seconds >= 0 ? `in ${t}` : `${t} ago`;
}

/** Human-readable `weft identity status`. */
export function formatStatus(s: IdentityStatus): string {
  const lines: string[] = [];
  lines.push(`trust domain   ${s.trustDomain} (${s.mode === 'plugin' ? 'plug-in CA' : 'built-in CA'})`);
  lines.push(`trust bundle   version ${s.bundleVersion}, ${s.roots.length} root${s.roots.length === 1 ? '' : 's'}`);
  for (const r of s.roots) {
    const tags = [r.issuing ? 'issuing' : '', r.role !== 'active' ? `${r.role} root` : '', r.expired ? 'EXPIRED' : ''].filter(Boolean).join(', ');
    lines.push(`  root ${r.id.slice(0, 16)}  expires ${r.notAfter} (${ago(r.expiresInSeconds)})${tags ? `  [${tags}]` : ''}`);
    lines.push(`       ${r.subject}`);
  }
  lines.push(`issuer         ${s.issuer.subject}, expires ${s.issuer.notAfter} (${ago(s.issuer.expiresInSeconds)})`);
  if (s.rotation) {
    lines.push(`rotation       step ${s.rotation.step}/5 (${s.rotation.reason}): ${s.rotation.description}`);
    lines.push(`               started ${s.rotation.startedAt}, this step since ${s.rotation.stepStartedAt}`);
    if (s.rotation.workloadsWithoutNewBundleCount > 0) {
      const more = s.rotation.workloadsWithoutNewBundleCount - s.rotation.workloadsWithoutNewBundle.length;
      lines.push(`               waiting for ${s.rotation.workloadsWithoutNewBundleCount} workload(s): ${s.rotation.workloadsWithoutNewBundle.join(', ')}${more > 0 ? `, and ${more} more` : ''}`);
    }
    if (s.rotation.step === 4) lines.push(`               live leaves under the old root: ${s.rotation.liveLeavesUnderOldRoot}`);
  } else {
    lines.push('rotation       none in progress');
  }
  const refusals = Object.entries(s.refusals);
  lines.push(`certificates   ${s.certificatesIssued} issued; refusals: ${refusals.length ? refusals.map(([k, v]) => `${k}=${v}`).join(', ') : 'none'}`);
  lines.push(`workloads      ${s.connectedWorkloads} connected; signing ${s.signRatePerSec}/s, ${s.signQueue} queued, ${s.signWorkers ? `${s.signWorkers} worker thread${s.signWorkers === 1 ? '' : 's'}` : 'on the main thread'}`);
  lines.push(`lifetimes      leaf ${s.lifetimes.leafSeconds}s, intermediate ${s.lifetimes.intermediateSeconds}s, root ${s.lifetimes.rootSeconds}s`);
  if (s.history.length) {
    lines.push('recent events');
    for (const h of s.history.slice(-5)) lines.push(`  ${h.at}  ${h.event}`);
  }
  return lines.join('\n') + '\n';
}

export function registerIdentity(program: Command): void {
  const identity = program.command('identity').description('workload identity: tokens, certificates, trust bundle, root rotation and recovery');

  identity
    .command('token')
    .description('issue a workload token (the credential a workload enrols with) from the CA state directory')
    .requiredOption('--namespace <ns>', 'namespace of the workload')
    .requiredOption('--service-account <sa>', 'service account of the workload')
    .option('--ttl <duration>', 'token lifetime (e.g. 30d, 24h)', ttlFlag('--ttl'), '365d')
    .option('--state <dir>', 'CA state directory', DEFAULT_STATE)
    .option('--trust-domain <td>', 'trust domain (only when creating a new CA)')
    .action(async (o: { namespace: string; serviceAccount: string; ttl: string; state: string; trustDomain?: string }) => {
      const ttlMs = parseTtl(o.ttl, '--ttl');
      const store = new FileCaStateStore(o.state);
      const state = await store.load();
      if (state) {
        const t = await new WorkloadTokens(state.tokenKey).issue({ trustDomain: state.trustDomain, namespace: o.namespace, serviceAccount: o.serviceAccount, ttlMs });
        process.stdout.write(t.token + '\n');
        return;
      }
      const a = await openState(o.state, o.trustDomain);
      const t = await a.issueToken({ namespace: o.namespace, serviceAccount: o.serviceAccount, ttlMs });
      process.stdout.write(t.token + '\n');
    });

  identity
    .command('bundle')
    .description('print the trust bundle (PEM): the bootstrap bundle workloads verify the control plane with')
    .option('--state <dir>', 'read it from the CA state directory')
    .option('--admin <url>', 'or ask the control plane admin API')
    .action(async (o: { state?: string; admin?: string }) => {
      if (o.state) {
        const state = await new FileCaStateStore(o.state).load();
        if (!state) throw new IdentityError('IDENTITY_CA_STATE_INVALID', `no CA state in ${o.state}`);
        process.stdout.write(makeBundle(state.bundleVersion, state.roots.map((r) => r.certPem)).pem);
        return;
      }
      process.stdout.write(String(await admin(o.admin ?? DEFAULT_ADMIN, 'GET', '/identity/bundle')));
    });

  identity
    .command('issue')
    .description('issue a certificate and key for a SPIFFE ID into a directory (debugging, non-mesh clients)')
    .requiredOption('--id <spiffe-id>', 'spiffe://<trust-domain>/ns/<ns>/sa/<sa>')
    .requiredOption('--out <dir>', 'writes cert.pem (leaf + chain), key.pem (0600) and bundle.pem')
    .option('--ttl <duration>', 'certificate lifetime (default: the mesh leaf lifetime, 24h)', ttlFlag('--ttl'))
    .addOption(new Option('--key-type <type>', 'key type').choices(['ec-p256', 'ed25519', 'rsa-2048']).default('ec-p256'))
    .option('--state <dir>', 'CA state directory', DEFAULT_STATE)
    .action(async (o: { id: string; out: string; ttl?: string; keyType: string; state: string }) => {
      const id = parseSpiffeId(o.id);
      const a = await openState(o.state, id.trustDomain);
      const m = await a.issueDirect(o.id, { ttlMs: o.ttl ? parseTtl(o.ttl, '--ttl') : undefined, keyType: o.keyType as KeyType });
      await mkdir(o.out, { recursive: true });
      await writeFile(join(o.out, 'cert.pem'), m.certChainPem);
      // `mode` applies only when the file is created: an existing key.pem keeps its mode unless changed here.
      const keyFile = join(o.out, 'key.pem');
      await writeFile(keyFile, m.keyPem, { mode: 0o600 });
      await chmod(keyFile, 0o600);
      await writeFile(join(o.out, 'bundle.pem'), m.trustBundlePem);
      process.stdout.write(`${o.id}: ${join(o.out, 'cert.pem')}, key.pem, bundle.pem (valid until ${m.notAfter.toISOString()})\n`);
    });

  identity
    .command('status')
    .description('roots and expiry, rotation step, issuer, certificates issued and refusals')
    .option('--admin <url>', 'control plane admin API', DEFAULT_ADMIN)
    .addOption(new Option('--output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (o: { admin: string; output: string }) => {
      const s = (await admin(o.admin, 'GET', '/identity/status')) as IdentityStatus;
      process.stdout.write(o.output === 'json' ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
    });

  identity
    .command('rotate-root')
    .description('start a root rotation now (new root → bundle acks → new issuer → re-issue → old root removed)')
    .option('--admin <url>', 'control plane admin API', DEFAULT_ADMIN)
    .action(async (o: { admin: string }) => {
      const s = (await admin(o.admin, 'POST', '/identity/rotate-root')) as IdentityStatus;
      process.stdout.write(formatStatus(s));
    });

  identity
    .command('recover')
    .description('after the root expired: issue a new root; workloads re-enrol with their workload tokens')
    .option('--admin <url>', 'control plane admin API', DEFAULT_ADMIN)
    .option('--force', 'recover even though the root has not expired (drops the current root at once: an outage)')
    .action(async (o: { admin: string; force?: boolean }) => {
      const s = (await admin(o.admin, 'POST', '/identity/recover', { force: Boolean(o.force) })) as IdentityStatus;
      process.stdout.write(formatStatus(s));
      process.stdout.write('next: publish the new bootstrap bundle to workloads: weft identity bundle --admin URL > bundle.pem\n');
    });

  identity
    .command('serve')
    .description('run the identity service alone (gRPC over TLS + admin API on 127.0.0.1); `weft control` runs the same service with xDS, with the same CA flags')
    .option('--state <dir>', 'CA state directory', DEFAULT_STATE)
    .option('--trust-domain <td>', 'trust domain', 'cluster.local')
    .option('--listen <host>', 'address of the gRPC port', '127.0.0.1')
    .option('--port <port>', 'gRPC identity port', parsePort, 15010)
    .option('--admin-port <port>', 'admin API port (127.0.0.1)', parsePort, 15014)
    .option('--leaf-ttl <duration>', 'workload certificate lifetime', ttlFlag('--leaf-ttl'), '24h')
    .option('--intermediate-ttl <duration>', 'issuing intermediate lifetime', ttlFlag('--intermediate-ttl'), '30d')
    .option('--root-ttl <duration>', 'root lifetime', ttlFlag('--root-ttl'), '365d')
    .option('--sign-rate <n>', 'signatures per second', parsePositiveNumber, 100)
    .option('--sign-workers <n>', 'worker threads that check CSRs and sign (0 = main thread)', parseNonNegativeInt, 0)
    .option('--ca-cert <file>', 'plug-in CA: intermediate certificate chain (PEM)')
    .option('--ca-key <file>', 'plug-in CA: intermediate private key (PEM)')
    .option('--ca-bundle <file>', 'plug-in CA: trusted roots (PEM)')
    .action(
      async (o: { state: string; trustDomain: string; listen: string; port: number; adminPort: number; leafTtl: string; intermediateTtl: string; rootTtl: string; signRate: number; signWorkers: number; caCert?: string; caKey?: string; caBundle?: string }) => {
        if (Boolean(o.caCert) !== Boolean(o.caKey)) throw usageError('--ca-cert and --ca-key go together');
        const server = await startIdentityServer({
          stateDir: o.state,
          trustDomain: o.trustDomain,
          host: o.listen,
          port: o.port,
          adminPort: o.adminPort,
          leafTtlMs: parseTtl(o.leafTtl, '--leaf-ttl'),
          intermediateTtlMs: parseTtl(o.intermediateTtl, '--intermediate-ttl'),
          rootTtlMs: parseTtl(o.rootTtl, '--root-ttl'),
          signRatePerSec: o.signRate,
          signWorkers: o.signWorkers,
          pluginCa: o.caCert && o.caKey ? { certFile: o.caCert, keyFile: o.caKey, bundleFile: o.caBundle } : undefined,
        });
        process.stdout.write(`weft identity service on ${server.target} (admin ${server.adminUrl}), trust domain ${server.authority.trustDomain}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await server.close();
      },
    );
}

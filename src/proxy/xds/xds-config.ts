// The proxy as an xDS client: an ADS stream to the control plane (TLS with the workload certificate),
// each complete resource set translated into the proxy spec and compiled into a RuntimeSnapshot
// atomically. A set the proxy cannot apply (translation or validation fails) throws, so the ADS
// client NACKs it and the last good snapshot stays in force. While the control plane is away the
// ADS client reconnects with backoff and jitter and the proxy keeps serving its last snapshot.
import { Watch } from '../../core/watch.ts';
import { logger } from '../../core/logger.ts';
import { AdsClient, type AdsClientOptions, type XdsResourceSet } from '../../xds/client.ts';
import { compileSnapshot, type RuntimeSnapshot } from '../runtime/snapshot.ts';
import type { ProxyConfigSpec } from '../runtime/spec.ts';
import { nodeMetadataFor, type ProxyAnnouncement } from './node-metadata.ts';
import { translateXds } from './translate.ts';

const log = logger('proxy.xds');

export interface XdsProxyConfigOptions {
  /** host:port of the control plane's xDS port. */
  readonly target: string;
  readonly tls: AdsClientOptions['tls'];
  readonly nodeId: string;
  readonly announce: ProxyAnnouncement;
  /** The local part of the spec (workload, identity PEMs, inbound app ports, listener addresses); read at every apply. */
  readonly base: () => ProxyConfigSpec;
  readonly mode?: 'delta' | 'sotw';
  readonly backoff?: AdsClientOptions['backoff'];
}

export class XdsProxyConfig {
  /** The latest applied snapshot (undefined until the first complete set). */
  readonly snapshots = new Watch<RuntimeSnapshot | undefined>(undefined);
  readonly client: AdsClient;
  #warnings: readonly string[] = [];
  #lastSet: XdsResourceSet | undefined;

  constructor(options: XdsProxyConfigOptions) {
    this.client = new AdsClient({
      target: options.target,
      tls: options.tls,
      node: { id: options.nodeId, metadata: nodeMetadataFor(options.announce) },
      mode: options.mode,
      backoff: options.backoff,
      apply: (set) => {
        const { spec, warnings } = translateXds(set, options.base());
        const r = compileSnapshot(spec);
        if (!r.ok) {
          log.warn({ version: spec.version, error: r.error.message }, 'xDS config refused (NACK); keeping the last good config');
          throw r.error;
        }
        if (warnings.join('\n') !== this.#warnings.join('\n')) for (const w of warnings) log.warn({ version: spec.version }, w);
        this.#warnings = warnings;
        this.#lastSet = set;
        this.snapshots.set(r.value);
        log.info({ version: r.value.version, services: r.value.services.length, clusters: r.value.clusters.size }, 'xDS config applied');
      },
    });
  }

  /** Parts of the received config the proxy left out (unsupported features). */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  get lastSet(): XdsResourceSet | undefined {
    return this.#lastSet;
  }

  start(): void {
    this.client.start();
  }

  stop(): void {
    this.client.stop();
  }

  /**
   * Resolves with a Watch that the proxy can run on once the first complete set has been applied
   * (listeners are bound from it); later sets update the same Watch.
   */
  async ready(signal?: AbortSignal): Promise<Watch<RuntimeSnapshot>> {
    const first = (await this.snapshots.until((s) => s !== undefined, signal))!;
    const forward = new Watch<RuntimeSnapshot>(first);
    this.snapshots.subscribe((s) => {
      if (s && s !== forward.current) forward.set(s);
    });
    return forward;
  }
}

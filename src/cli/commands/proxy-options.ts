// The options of `weft proxy`, written once: registerProxy (proxy.ts) builds commander's options and
// help from this table, and `plainProxyOptions` reads an argv that uses them plainly without loading
// commander at all (a sidecar then never holds the CLI parser; src/cli/main.ts). Anything the plain
// reader is not sure about — help, an unknown or repeated flag, `--flag=value`, a value that starts
// with `-`, a positional argument, a missing `--bootstrap` — goes to commander, so usage errors and
// `--help` are commander's, exactly as before. So does `--control`: control mode loads the gRPC
// stack anyway, and its flag checks are commander usage errors (exit 2).
import type { ControlModeOptions } from './proxy-control.ts';

/** What the `weft proxy` action receives (commander's camelCase keys). */
export interface ProxyCommandOptions extends Partial<Omit<ControlModeOptions, 'bootstrap'>> {
  bootstrap: string;
  check?: boolean;
  drainTimeout?: string;
}

export interface ProxyOptionSpec {
  /** The long flag, e.g. `--drain-timeout`. */
  readonly flag: string;
  /** The value placeholder for help (`<file>`), absent for a boolean flag. */
  readonly value?: string;
  readonly key: keyof ProxyCommandOptions;
  readonly description: string;
  readonly required?: boolean;
}

/** Every option of `weft proxy`, in help order. */
export const PROXY_OPTIONS: readonly ProxyOptionSpec[] = [
  { flag: '--bootstrap', value: '<file>', key: 'bootstrap', required: true, description: 'static bootstrap file (YAML or JSON): listeners, services, clusters, identity' },
  { flag: '--check', key: 'check', description: 'validate the bootstrap file and exit (0 valid, 1 invalid)' },
  { flag: '--drain-timeout', value: '<ms>', key: 'drainTimeout', description: 'on SIGTERM, how long in-flight requests may finish (default: the file\'s drainTimeoutMs)' },
  { flag: '--control', value: '<host:port>', key: 'control', description: 'get certificates and config from this control plane (the bootstrap then gives only workload, app ports, listeners)' },
  { flag: '--token', value: '<file>', key: 'token', description: 'with --control: the workload token file' },
  { flag: '--token-env', value: '<var>', key: 'tokenEnv', description: 'with --control: the environment variable holding the workload token' },
  { flag: '--ca', value: '<file>', key: 'ca', description: 'with --control: trust bundle to verify the control plane with' },
  { flag: '--upstreams', value: '<list>', key: 'upstreams', description: 'with --control: services this workload calls (comma-separated); default all' },
  { flag: '--address', value: '<ip>', key: 'address', description: 'with --control: IP address peers reach this proxy at (default 127.0.0.1)' },
  { flag: '--node-id', value: '<id>', key: 'nodeId', description: 'with --control: xDS node id (default <workload>-<pid>)' },
];

/**
 * The options of a `weft proxy` argv (the arguments after `proxy`) when they are plain: each a known
 * flag given once, each value a separate argument not starting with `-`, `--bootstrap` present, no
 * `--control`. Returns undefined for anything else; commander then parses it (and reports usage errors).
 */
export function plainProxyOptions(args: readonly string[]): ProxyCommandOptions | undefined {
  const options: Partial<Record<keyof ProxyCommandOptions, string | boolean>> = {};
  for (let i = 0; i < args.length; i++) {
    const spec = PROXY_OPTIONS.find((o) => o.flag === args[i]);
    if (spec === undefined || options[spec.key] !== undefined) return undefined;
    if (spec.value === undefined) {
      options[spec.key] = true;
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('-')) return undefined;
    options[spec.key] = value;
    i++;
  }
  if (typeof options.bootstrap !== 'string' || options.control !== undefined) return undefined;
  return options as ProxyCommandOptions;
}

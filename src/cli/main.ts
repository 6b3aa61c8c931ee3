// The `weft` command: builds the commander program from explicitly registered subcommands.
// Exit codes: 0 success, 1 the command ran and found a problem (e.g. invalid config), 2 usage error.
// Each subcommand's module is imported only when it is needed: `weft proxy` must not pay (in
// start-up time and resident memory) for the control plane, the CA and the gRPC stack that other
// commands bring in. `weft --help` and unknown commands load them all.
// A plain `weft proxy --bootstrap FILE ...` does not even load commander (proxy-options.ts): before
// importing the proxy it limits V8's heap and holds back the optimizing compiler while the proxy's
// modules load (src/proxy/runtime/heap.ts), so an idle sidecar holds ~7 MB less (docs/PERFORMANCE.md
// "Idle memory").
import type { Command } from 'commander';
import { plainProxyOptions, type ProxyCommandOptions } from './commands/proxy-options.ts';
import { holdOptimizingCompiler, limitProxyHeap } from '../proxy/runtime/heap.ts';

type Registration = (program: Command) => void;

/** Every subcommand, by name, registered explicitly (no side-effect imports). */
const subcommands: ReadonlyArray<{ name: string; load: () => Promise<Registration> }> = [
  { name: 'version', load: async () => (await import('./commands/version.ts')).registerVersion },
  { name: 'demo', load: async () => (await import('./commands/demo.ts')).registerDemo },
  { name: 'validate', load: async () => (await import('./commands/validate.ts')).registerValidate },
  { name: 'identity', load: async () => (await import('./commands/identity.ts')).registerIdentity },
  { name: 'proxy', load: async () => (await import('./commands/proxy.ts')).registerProxy },
  { name: 'control', load: async () => (await import('./commands/control.ts')).registerControl },
  { name: 'status', load: async () => (await import('./commands/status.ts')).registerStatus },
  { name: 'config', load: async () => (await import('./commands/config.ts')).registerConfig },
];

/** The subcommand argv names (the first argument after node and the script), if it is one of ours. */
export function requestedSubcommand(argv: readonly string[]): string | undefined {
  const first = argv[2];
  return subcommands.some((s) => s.name === first) ? first : undefined;
}

/** The program with every subcommand, or only `only` when given (what `main` runs). */
export async function buildProgram(only?: string): Promise<Command> {
  const { Command } = await import('commander');
  const program = new Command('weft')
    .description('weft: a service mesh for Node.js (mTLS with SPIFFE identities, traffic control, golden metrics)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const sub of subcommands) {
    // `version` also registers the program-wide `--version` flag, so it is always there.
    if (only === undefined || sub.name === only || sub.name === 'version') (await sub.load())(program);
  }
  return program;
}

/** Runs `weft proxy` with options read without commander; failures as `main` reports them. */
async function runPlainProxy(options: ProxyCommandOptions): Promise<void> {
  limitProxyHeap();
  holdOptimizingCompiler();
  try {
    const { runProxyCommand } = await import('./commands/proxy.ts');
    await runProxyCommand(options);
  } catch (error) {
    // As `main` does: a commander error (a usage error raised in the action) was printed already → 2.
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`weft: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

export async function main(argv: string[]): Promise<void> {
  const proxyOptions = argv[2] === 'proxy' ? plainProxyOptions(argv.slice(3)) : undefined;
  if (proxyOptions !== undefined) return runPlainProxy(proxyOptions);
  const [program, { CommanderError }] = await Promise.all([buildProgram(requestedSubcommand(argv)), import('commander')]);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version requests exit 0; every other commander failure is a usage error.
      const benign = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help';
      process.exitCode = benign ? 0 : 2;
      return;
    }
    process.stderr.write(`weft: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

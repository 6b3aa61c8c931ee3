// The conformance runner's command line (`npm run conformance -- [--sut reference|weft] [--profile
// gateway|mesh] [--test NAME...] [--strict-mesh] [--full-base] [--eventually] [--verbose] [--reference-fault F...]`):
// parses options, runs the selected tests, writes the per-test table and the JSON summary line.
import { Command, CommanderError, Option } from 'commander';
import { loadBaseManifests, loadCorpusIndex, DEFAULT_CORPUS_DIR } from './corpus.ts';
import { formatTable, runConformance, selectTests, summaryJson } from './runner.ts';
import { ReferenceSut } from './sut-reference.ts';
import type { ReferenceFault } from './reference-router.ts';
import { WeftSut } from './sut-weft.ts';
import type { SystemUnderTest } from './sut.ts';
import { RunnerUsageError } from './errors.ts';
import { WeftError, toError } from '../../src/core/errors.ts';

interface CliOptions {
  sut: 'reference' | 'weft';
  profile?: 'gateway' | 'mesh';
  test?: string[];
  corpus: string;
  strictMesh?: boolean;
  verbose?: boolean;
  referenceFault?: ReferenceFault[];
  fullBase?: boolean;
  eventually?: boolean;
}

function makeSut(opts: CliOptions): SystemUnderTest {
  return opts.sut === 'weft' ? new WeftSut() : new ReferenceSut({ faults: new Set(opts.referenceFault ?? []) });
}

/** Where the CLI writes; the script passes process.stdout/stderr, tests collect strings. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Runs the conformance CLI with `argv` (without node and script) and resolves to the exit code:
 * 0 every test that ran passed, 1 a case failed or the SUT cannot run, 2 usage error. Never throws.
 */
export async function runConformanceCli(argv: string[], io: CliIO): Promise<number> {
  try {
    return await cli(argv, io);
  } catch (error) {
    const e = toError(error);
    io.err(`conformance: ${e.message}${e instanceof WeftError ? ` [${e.code}]` : ''}\n`);
    return e instanceof RunnerUsageError ? 2 : 1;
  }
}

async function cli(argv: string[], io: CliIO): Promise<number> {
  const program = new Command('conformance')
    .description('Run the Gateway API conformance corpus against a system under test')
    .addOption(new Option('--sut <name>', 'system under test').choices(['reference', 'weft']).default('reference'))
    .addOption(new Option('--profile <profile>', 'only this profile').choices(['gateway', 'mesh']))
    .option('--test <names...>', 'only these tests (by corpus name)')
    .option('--corpus <dir>', 'corpus folder', DEFAULT_CORPUS_DIR)
    .option('--strict-mesh', 'also check mesh paths and redirect Locations (not asserted upstream)')
    .option('--verbose', 'print every case, not only failures')
    .option('--eventually', 'retry single-exchange cases until 3 passes in a row within 30 s, as upstream does')
    .option('--full-base', "apply the profile's whole base manifest set, as upstream does, not just each test's subset")
    .addOption(
      new Option('--reference-fault <faults...>', 'break the reference router on purpose (shows the comparators bite)').choices([
        'ignore-header-matches',
        'ignore-weights',
        'drop-request-header-modifier',
      ]),
    )
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.code === 'commander.helpDisplayed' || error.code === 'commander.help' ? 0 : 2;
    throw error;
  }
  const opts = program.opts<CliOptions>();
  const index = loadCorpusIndex(opts.corpus);
  const names = selectTests(index, { ...(opts.profile ? { profile: opts.profile } : {}), ...(opts.test ? { names: opts.test } : {}) });
  const unknown = (opts.test ?? []).filter((n) => !index.tests.some((t) => t.name === n));
  if (unknown.length > 0) throw new RunnerUsageError(`unknown test(s): ${unknown.join(', ')} (see ${opts.corpus}/index.json)`);
  if (names.length === 0) throw new RunnerUsageError('no test matches the selection');

  const sut = makeSut(opts);
  const summary = await runConformance(sut, names, index, {
    strictMesh: opts.strictMesh === true,
    ...(opts.eventually === true ? { eventually: { consecutive: 3, withinMs: 30_000 } } : {}),
    ...(opts.fullBase === true ? { baseObjects: { gateway: loadBaseManifests('gateway', index), mesh: loadBaseManifests('mesh', index) } } : {}),
    log: (line) => {
      if (opts.verbose === true || line.startsWith('FAIL')) io.err(line + '\n');
    },
  });
  io.out(formatTable(summary) + '\n');
  io.out(summaryJson(summary) + '\n');
  return summary.tests.failed > 0 ? 1 : 0;
}

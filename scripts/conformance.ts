// `npm run conformance -- [--sut reference|weft] [--profile gateway|mesh] [--test NAME...] [--strict-mesh]
// [--full-base] [--verbose] [--reference-fault F...]`: runs the Gateway API conformance corpus against a system under test, prints a table per
// test and one JSON summary line; exit 0 all ran tests passed, 1 a failure (or the SUT cannot run), 2 usage.
import { Command, CommanderError, Option } from 'commander';
import { loadBaseManifests, loadCorpusIndex, DEFAULT_CORPUS_DIR } from '../test/conformance/corpus.ts';
import { formatTable, runConformance, selectTests, summaryJson } from '../test/conformance/runner.ts';
import { ReferenceSut } from '../test/conformance/sut-reference.ts';
import type { ReferenceFault } from '../test/conformance/reference-router.ts';
import { WeftSut } from '../test/conformance/sut-weft.ts';
import type { SystemUnderTest } from '../test/conformance/sut.ts';
import { RunnerUsageError } from '../test/conformance/errors.ts';
import { WeftError, toError } from '../src/core/errors.ts';

interface CliOptions {
  sut: 'reference' | 'weft';
  profile?: 'gateway' | 'mesh';
  test?: string[];
  corpus: string;
  strictMesh?: boolean;
  verbose?: boolean;
  referenceFault?: ReferenceFault[];
  fullBase?: boolean;
}

function makeSut(opts: CliOptions): SystemUnderTest {
  return opts.sut === 'weft' ? new WeftSut() : new ReferenceSut({ faults: new Set(opts.referenceFault ?? []) });
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('conformance')
    .description('Run the Gateway API conformance corpus against a system under test')
    .addOption(new Option('--sut <name>', 'system under test').choices(['reference', 'weft']).default('reference'))
    .addOption(new Option('--profile <profile>', 'only this profile').choices(['gateway', 'mesh']))
    .option('--test <names...>', 'only these tests (by corpus name)')
    .option('--corpus <dir>', 'corpus folder', DEFAULT_CORPUS_DIR)
    .option('--strict-mesh', 'also check mesh paths and redirect Locations (not asserted upstream)')
    .option('--verbose', 'print every case, not only failures')
    .option('--full-base', "apply the profile's whole base manifest set, as upstream does, not just each test's subset")
    .addOption(
      new Option('--reference-fault <faults...>', 'break the reference router on purpose (shows the comparators bite)').choices([
        'ignore-header-matches',
        'ignore-weights',
        'drop-request-header-modifier',
      ]),
    )
    .exitOverride();
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
    ...(opts.fullBase === true ? { baseObjects: { gateway: loadBaseManifests('gateway', index), mesh: loadBaseManifests('mesh', index) } } : {}),
    log: (line) => {
      if (opts.verbose === true || line.startsWith('FAIL')) process.stderr.write(line + '\n');
    },
  });
  process.stdout.write(formatTable(summary) + '\n');
  process.stdout.write(summaryJson(summary) + '\n');
  return summary.tests.failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const e = toError(error);
    process.stderr.write(`conformance: ${e.message}${e instanceof WeftError ? ` [${e.code}]` : ''}\n`);
    process.exitCode = e instanceof RunnerUsageError ? 2 : 1;
  },
);

// `npm run conformance -- [--sut reference|weft] [--profile gateway|mesh] [--test NAME...] [--strict-mesh]
// [--full-base] [--eventually] [--verbose] [--reference-fault F...]`: runs the Gateway API conformance corpus against a
// system under test (see docs/CONFORMANCE.md); exit 0 all ran tests passed, 1 a failure, 2 usage error.
import { runConformanceCli } from '../test/conformance/cli.ts';

process.exitCode = await runConformanceCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});

// `weft demo`: the one-command local mesh that `npm start` runs. Until the control plane and the
// proxy are composed into a runnable demo, it says so and shows what the CLI offers today.
import type { Command } from 'commander';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the demo mesh on this machine (what `npm start` runs)')
    .action(() => {
      process.stdout.write(
        [
          'weft demo: the one-command local mesh is not built yet.',
          'What works today:',
          '  weft validate examples/     check the example mesh configuration',
          '  weft --help                 every command',
          '',
        ].join('\n'),
      );
      program.outputHelp();
    });
}

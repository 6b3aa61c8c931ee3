// The `weft` command: builds the commander program from explicitly registered subcommands.
// Exit codes: 0 success, 1 the command ran and found a problem (e.g. invalid config), 2 usage error.
import { Command, CommanderError } from 'commander';
import { registerVersion } from './commands/version.ts';
import { registerDemo } from './commands/demo.ts';
import { registerValidate } from './commands/validate.ts';
import { registerIdentity } from './commands/identity.ts';
import { registerProxy } from './commands/proxy.ts';
import { registerControl } from './commands/control.ts';
import { registerStatus } from './commands/status.ts';
import { registerConfig } from './commands/config.ts';

/** Every subcommand, registered explicitly (no side-effect imports). */
const registrations: Array<(program: Command) => void> = [registerVersion, registerDemo, registerValidate, registerIdentity, registerProxy, registerControl, registerStatus, registerConfig];

export function buildProgram(): Command {
  const program = new Command('weft')
    .description('weft: a service mesh for Node.js (mTLS with SPIFFE identities, traffic control, golden metrics)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of registrations) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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

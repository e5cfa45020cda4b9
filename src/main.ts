import minimist from 'minimist';
import { setEffects } from './apply/effects.js';
import { type Command, EXIT, UsageError, checkOptions, describeError } from './cli/command.js';
import { hotplugCommands } from './cli/hotplug.js';
import { HookError } from './errors.js';
import { fileSources, renderDiagnostics } from './report/diagnostic.js';
import { operatorCommands } from './cli/operator.js';

declare const VERSION: string;

const COMMANDS: readonly Command[] = [...hotplugCommands, ...operatorCommands];

const USAGE = `usage: vif-firewall <command> [arguments] [--help]

A Xen vif hotplug script that gives every guest its own firewall in dom0. Name it as
the script= of a vif (or vif.default.script in /etc/xen/xl.conf); libxl runs it as it
runs vif-bridge.

commands:
${COMMANDS.map((c) => `  ${c.summary}`).join('\n')}

options: --help (also after a command), --version, --verbose (each step on stderr)
exit codes: 0 ok, 1 failed (or, for check, errors found), 2 bad usage`;

/** Xen's scripts prepend their own PATH; libxl passes the caller's, which may lack sbin. */
function withSbinOnPath(env: NodeJS.ProcessEnv): void {
  env.PATH = [env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'].filter(Boolean).join(':');
}

async function main(argv: readonly string[]): Promise<number> {
  const name = argv.find((a) => !a.startsWith('-'));
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    if (argv.includes('--version')) return print(`vif-firewall ${VERSION}`);
    if (argv.includes('--help') || argv.length === 0) return print(USAGE, argv.length === 0 ? EXIT.usage : EXIT.ok);
    process.stderr.write(`vif-firewall: unknown command "${name ?? argv.join(' ')}"\n${USAGE}\n`);
    return EXIT.usage;
  }
  const rest = [...argv];
  rest.splice(argv.indexOf(name!), 1);
  const args = minimist(
    rest,
    { boolean: ['help', 'verbose', ...(command.booleans ?? [])], string: [...(command.strings ?? [])] },
  );
  if (args.help) return print(command.help);
  try {
    checkOptions(command, args);
    withSbinOnPath(process.env);
    const write = (stream: NodeJS.WriteStream) => (line: string) => stream.write(`${line}\n`);
    setEffects({
      dryRun: args['dry-run'] === true,
      narrate: args['dry-run'] === true ? write(process.stdout) : args.verbose === true ? write(process.stderr) : undefined,
    });
    return await command.run(args);
  } catch (e) {
    // An error in a config reads as a compiler's, with the line at fault; anything else names the command.
    const located = e instanceof HookError && e.where !== undefined && !(e instanceof UsageError);
    const text = located ? renderDiagnostics(e, fileSources()).join('\n') : `vif-firewall ${command.name}: ${describeError(e)}`;
    process.stderr.write(`${text}\n`);
    if (e instanceof UsageError) {
      process.stderr.write(`${command.help}\n`);
      return EXIT.usage;
    }
    return EXIT.failed;
  }
}

function print(text: string, code: number = EXIT.ok): number {
  (code === EXIT.ok ? process.stdout : process.stderr).write(`${text}\n`);
  return code;
}

// Exit as soon as the answer is out: everything that matters has been awaited (stdout and
// stderr are synchronous on Linux pipes and files; logger runs on, detached), and leaving it
// to Node to find the event loop empty costs ~3 ms more on the guest's start path.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`vif-firewall: ${describeError(e)}\n`);
    process.exit(EXIT.failed);
  },
);

import minimist from 'minimist';
import { setEffects } from './apply/effects.js';
import { type Command, COMMON_BOOLEANS, EXIT, UsageError, checkOptions, describeError } from './cli/command.js';
import { hotplugCommands } from './cli/hotplug.js';
import { HookError } from './errors.js';
import { fileSources, renderDiagnostics } from './report/diagnostic.js';
import { operatorCommands } from './cli/operator.js';
import { didYouMean } from './cli/suggest.js';

declare const VERSION: string;

const COMMANDS: readonly Command[] = [...hotplugCommands, ...operatorCommands];
/** What is not a Command: they print and exit, and take nothing but a command name for help. */
const BUILTINS = ['help', 'version'] as const;
const NAMES = [...COMMANDS.map((c) => c.name), ...BUILTINS];

const USAGE = `usage: vif-firewall <command> [arguments] [--help]

A Xen vif hotplug script that gives every guest its own firewall in dom0. Name it as
the script= of a vif (or vif.default.script in /etc/xen/xl.conf); libxl runs it as it
runs vif-bridge.

commands:
${COMMANDS.map((c) => `  ${c.summary}`).join('\n')}
  help [COMMAND]: this overview, or the help of one command (also -h, --help)
  version: the version (also -V, --version)

options: --verbose (each step on stderr); --help after a command: its help
exit codes: 0 ok, 1 failed (or, for check, errors found), 2 bad usage
manual: man vif-firewall (commands), man vif-firewall.conf (settings)`;

/** Xen's scripts prepend their own PATH; libxl passes the caller's, which may lack sbin. */
function withSbinOnPath(env: NodeJS.ProcessEnv): void {
  env.PATH = [env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'].filter(Boolean).join(':');
}

const isHelp = (a: string) => a === '-h' || a === '--help';
const isVersion = (a: string) => a === '-V' || a === '--version';

async function main(argv: readonly string[]): Promise<number> {
  const name = argv.find((a) => !a.startsWith('-'));
  if (name === 'help') return help(argv.filter((a) => a !== name));
  if (name === 'version') return argv.length === 1 ? print(`vif-firewall ${VERSION}`) : usage(`version takes no arguments`);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    if (argv.length === 0) return print(USAGE, EXIT.usage);
    if (name === undefined && argv.length === 1 && isVersion(argv[0]!)) return print(`vif-firewall ${VERSION}`);
    if (name === undefined && argv.length === 1 && isHelp(argv[0]!)) return print(USAGE);
    if (name === undefined) return usage(`name a command (options alone: -h, --help, -V, --version), not ${argv.join(' ')}`);
    return usage(`unknown command "${name}"${didYouMean(name, NAMES)}`);
  }
  const rest = [...argv];
  rest.splice(argv.indexOf(name!), 1);
  const args = minimist(rest, {
    boolean: [...COMMON_BOOLEANS, ...(command.booleans ?? [])],
    string: [...(command.strings ?? [])],
    alias: { h: 'help' },
  });
  if (args.help) return print(command.help);
  try {
    checkOptions(command, args);
    withSbinOnPath(process.env);
    const write = (stream: NodeJS.WriteStream) => (line: string) => stream.write(`${line}\n`);
    // A dry run's story is its answer, on stdout; unless the answer is JSON, which stdout keeps to itself.
    const story = args.json === true ? process.stderr : process.stdout;
    setEffects({
      dryRun: args['dry-run'] === true,
      narrate: args['dry-run'] === true ? write(story) : args.verbose === true ? write(process.stderr) : undefined,
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

/** `help`, `help COMMAND`: the overview or one command's help, on stdout. */
function help(args: readonly string[]): number {
  const topics = args.filter((a) => !isHelp(a));
  const option = topics.find((a) => a.startsWith('-'));
  if (option !== undefined) return usage(`help takes a command name, not ${option}`);
  if (topics.length > 1) return usage(`help takes one command name, not ${topics.join(' ')}`);
  const topic = topics[0];
  if (topic === undefined || (BUILTINS as readonly string[]).includes(topic)) return print(USAGE);
  const command = COMMANDS.find((c) => c.name === topic);
  return command ? print(command.help) : usage(`no command "${topic}"${didYouMean(topic, NAMES)}`);
}

/** A usage error before any command is chosen: one line, and where the list of commands is. */
function usage(message: string): number {
  process.stderr.write(`vif-firewall: ${message}\n(vif-firewall help lists the commands)\n`);
  return EXIT.usage;
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

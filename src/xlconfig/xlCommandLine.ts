/*
 * Which config file an `xl create` process parsed, from its argv, following xl's own
 * option handling (tools/xl/xl.c main, xl_cmdtable.c cmdtable_lookup,
 * xl_vmcontrol.c main_create). Any argv xl itself would reject gives undefined.
 */

interface LongSpec {
  readonly short: string;
  readonly hasArg: boolean;
}

/** Long options of `xl create` (getopt_long table), and whether each takes an argument. */
const CREATE_LONG: ReadonlyMap<string, LongSpec> = new Map([
  ['dryrun', { short: 'n', hasArg: false }],
  ['quiet', { short: 'q', hasArg: false }],
  ['defconfig', { short: 'f', hasArg: true }],
  ['vncviewer', { short: 'V', hasArg: false }],
  ['vncviewer-autopass', { short: 'A', hasArg: false }],
  ['ignore-global-affinity-masks', { short: 'i', hasArg: false }],
  ['help', { short: 'h', hasArg: false }],
]);
/** Short options of `xl create` without an argument; 'f' takes one, 'h' prints help and exits. */
const CREATE_FLAGS = 'FnqpcdeVAi';
/** xl's global options (getopt "+vftNT"): none takes an argument. */
const GLOBAL_FLAGS = 'vftNT';

/**
 * The absolute path of the config file `xl create` reads, or undefined when argv is not
 * an xl create. The xl may be run by an interpreter (Debian's /usr/sbin/xl is a shell
 * wrapper), so argv[0] need not be xl itself.
 */
export function configFileFromXlArgv(argv: readonly string[], cwd: string): string | undefined {
  const xl = argv.findIndex((a) => a.split('/').pop() === 'xl');
  if (xl < 0) return undefined;
  const sub = afterGlobalOptions(argv.slice(xl + 1));
  if (!sub || !isCreate(sub[0])) return undefined;
  const file = createConfigFile(sub.slice(1));
  return file ? absolute(file, cwd) : undefined;
}

/** xl's getopt stops at the first non-option ("+"); an unknown global option makes xl exit. */
function afterGlobalOptions(args: readonly string[]): readonly string[] | undefined {
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args.slice(i + 1);
    if (!a.startsWith('-') || a === '-') break;
    if (![...a.slice(1)].every((c) => GLOBAL_FLAGS.includes(c))) return undefined;
  }
  return args.slice(i);
}

/** xl takes any unambiguous prefix of a command; "cr" is the shortest no other command shares. */
function isCreate(cmd: string | undefined): boolean {
  return cmd !== undefined && cmd.length >= 2 && 'create'.startsWith(cmd);
}

/**
 * main_create: a first argument that is neither an option nor VAR=VAL is the file; then
 * GNU getopt_long (which permutes, so options may follow operands); -f/--defconfig sets
 * the file, the last one winning; of the operands left, VAR=VAL are extra settings and
 * one more is the file if none was given yet, a second is a usage error.
 */
function createConfigFile(args: readonly string[]): string | undefined {
  let file: string | undefined;
  let rest = args;
  const first = args[0];
  if (first !== undefined && !first.startsWith('-') && !first.includes('=')) {
    file = first;
    rest = args.slice(1);
  }
  const parsed = getoptCreate(rest);
  if (!parsed) return undefined;
  file = parsed.defconfig ?? file;
  for (const operand of parsed.operands) {
    if (operand.includes('=')) continue;
    if (file !== undefined) return undefined;
    file = operand;
  }
  return file;
}

interface CreateOptions {
  readonly defconfig: string | undefined;
  readonly operands: readonly string[];
}

/** undefined where xl would print help or "option not supported" and exit. */
function getoptCreate(args: readonly string[]): CreateOptions | undefined {
  let defconfig: string | undefined;
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const opt = longOption(a.slice(2), args[i + 1]);
      if (!opt) return undefined;
      if (opt.usesNext) i++;
      if (opt.defconfig !== undefined) defconfig = opt.defconfig;
    } else if (a.startsWith('-') && a !== '-') {
      const opt = shortOptions(a.slice(1), args[i + 1]);
      if (!opt) return undefined;
      if (opt.usesNext) i++;
      if (opt.defconfig !== undefined) defconfig = opt.defconfig;
    } else {
      operands.push(a);
    }
  }
  return { defconfig, operands };
}

interface OptionRead {
  readonly defconfig: string | undefined;
  /** The option's argument was the next argv element. */
  readonly usesNext: boolean;
}

/** `-pc`, `-ffile`, `-f file`. Note `-f=file` names the file "=file", as getopt reads it. */
function shortOptions(cluster: string, next: string | undefined): OptionRead | undefined {
  for (let j = 0; j < cluster.length; j++) {
    const c = cluster[j]!;
    if (c === 'f') {
      const attached = cluster.slice(j + 1);
      if (attached) return { defconfig: attached, usesNext: false };
      return next === undefined ? undefined : { defconfig: next, usesNext: true };
    }
    if (!CREATE_FLAGS.includes(c)) return undefined;
  }
  return { defconfig: undefined, usesNext: false };
}

/** `--name`, `--name=value`, `--name value`; getopt_long also takes an unambiguous prefix of a name. */
function longOption(body: string, next: string | undefined): OptionRead | undefined {
  const eq = body.indexOf('=');
  const name = eq < 0 ? body : body.slice(0, eq);
  const inline = eq < 0 ? undefined : body.slice(eq + 1);
  const spec = longOptionSpec(name);
  if (!spec || spec.short === 'h') return undefined;
  if (!spec.hasArg) return inline === undefined ? { defconfig: undefined, usesNext: false } : undefined;
  if (inline !== undefined) return { defconfig: inline, usesNext: false };
  return next === undefined ? undefined : { defconfig: next, usesNext: true };
}

function longOptionSpec(name: string): LongSpec | undefined {
  const exact = CREATE_LONG.get(name);
  if (exact) return exact;
  const matches = [...CREATE_LONG].filter(([n]) => name && n.startsWith(name));
  return matches.length === 1 ? matches[0]![1] : undefined;
}

/**
 * Relative to xl's cwd. Deliberately no lexical ".." folding: the kernel resolves ".."
 * after symlinks, so folding could name a different file than the one xl opened.
 */
function absolute(file: string, cwd: string): string {
  if (file.startsWith('/')) return file;
  return `${cwd.replace(/\/+$/, '')}/${file.replace(/^(?:\.\/+)+/, '')}`;
}

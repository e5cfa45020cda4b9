import { execa } from 'execa';
import { HookError } from '../errors.js';
import { effects, narrate } from './effects.js';

export interface Ran {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Text for the command's stdin (iptables-restore's transaction, ip's batch). */
  readonly input?: string;
  /** The command changes the host: a dry run prints it instead of running it. */
  readonly changes?: boolean;
  /** Keep only the stdout lines this accepts, as they arrive: a whole iptables-save of a large host is megabytes. */
  readonly keepLines?: (line: string) => boolean;
}

/**
 * Every external command of the product goes through here: argv only, never a shell,
 * stdin closed unless we feed it, and a failure becomes a HookError that says which
 * command failed and what it printed.
 */
export async function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Ran> {
  const r = await tryRun(cmd, args, options);
  if (r.exitCode !== 0) throw new HookError(`${[cmd, ...args].join(' ')} failed: ${oneLine(r.stderr || r.stdout) || `exit ${r.exitCode}`}`);
  return r;
}

/** Like run, but a non-zero exit is an answer, not an error (a missing xenstore key, a device already gone). */
export async function tryRun(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Ran> {
  const { dryRun } = effects();
  const skip = dryRun && options.changes === true;
  const shown = `${[cmd, ...args].join(' ')}${options.input === undefined ? '' : ` <<EOF\n${options.input.trimEnd()}\nEOF`}`;
  if (skip) {
    narrate(`would run ${shown}`);
    return { exitCode: 0, stdout: '', stderr: '' };
  }
  const child = execa(cmd, args, {
    reject: false,
    stripFinalNewline: true,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    ...(options.keepLines ? { buffer: { stdout: false } } : {}),
  });
  const kept = options.keepLines && keepLines(child.stdout, options.keepLines);
  const r = await child;
  if (r.failed && r.exitCode === undefined) {
    const missing = (r as { code?: string }).code === 'ENOENT';
    throw new HookError(missing ? `${cmd} not found on PATH (${process.env.PATH ?? ''})` : `${cmd} could not run: ${r.shortMessage}`);
  }
  const ran = { exitCode: r.exitCode ?? 1, stdout: kept ? kept.join('\n') : String(r.stdout), stderr: String(r.stderr) };
  // One block per command, written when it is done, so that parallel calls do not interleave.
  // Short answers (a xenstore key) are worth seeing in a replay; a whole iptables-save is not.
  const answer =
    ran.exitCode !== 0 ? `\n  → exit ${ran.exitCode}${ran.stderr ? `: ${oneLine(ran.stderr)}` : ''}` : ran.stdout && !ran.stdout.includes('\n') ? `\n  → ${ran.stdout}` : '';
  narrate(`$ ${shown}${answer}`);
  return ran;
}

/** Splits a stream into lines as it arrives and keeps those wanted (execa's own line transforms are 2× slower here). */
function keepLines(stream: NodeJS.ReadableStream, keep: (line: string) => boolean): string[] {
  const kept: string[] = [];
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (keep(line)) kept.push(line);
  });
  stream.on('end', () => {
    if (partial && keep(partial)) kept.push(partial);
  });
  return kept;
}

export function oneLine(text: string): string {
  return text.trim().split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
}

import { execa } from 'execa';
import { HookError } from '../errors.js';

export interface Ran {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Every external command of the product goes through here: argv only, never a shell,
 * stdin closed unless we feed it, and a failure becomes a HookError that says which
 * command failed and what it printed.
 */
export async function run(cmd: string, args: readonly string[], input?: string): Promise<Ran> {
  const r = await tryRun(cmd, args, input);
  if (r.exitCode !== 0) throw new HookError(`${[cmd, ...args].join(' ')} failed: ${oneLine(r.stderr || r.stdout) || `exit ${r.exitCode}`}`);
  return r;
}

/** Like run, but a non-zero exit is an answer, not an error (a missing xenstore key, a device already gone). */
export async function tryRun(cmd: string, args: readonly string[], input?: string): Promise<Ran> {
  const r = await execa(cmd, args, {
    reject: false,
    stripFinalNewline: true,
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
  });
  if (r.failed && r.exitCode === undefined) {
    const missing = (r as { code?: string }).code === 'ENOENT';
    throw new HookError(missing ? `${cmd} not found on PATH (${process.env.PATH ?? ''})` : `${cmd} could not run: ${r.shortMessage}`);
  }
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function oneLine(text: string): string {
  return text.trim().split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
}

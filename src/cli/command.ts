import type minimist from 'minimist';
import { HookError } from '../errors.js';

/** One subcommand of the binary. */
export interface Command {
  readonly name: string;
  /** One line for the overview. */
  readonly summary: string;
  /** The full `--help` text of the subcommand. */
  readonly help: string;
  readonly booleans?: readonly string[];
  readonly strings?: readonly string[];
  run(args: minimist.ParsedArgs): Promise<number>;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A bad command line: main prints it with the subcommand's help and exits 2. */
export class UsageError extends HookError {}

export function describeError(e: unknown): string {
  if (e instanceof HookError) return e.describe();
  return e instanceof Error ? `internal error: ${e.stack ?? e.message}` : `internal error: ${String(e)}`;
}

/** Refuses options the subcommand does not know, which minimist would silently accept. */
export function checkOptions(command: Command, args: minimist.ParsedArgs): void {
  const known = new Set(['_', 'help', 'verbose', ...(command.booleans ?? []), ...(command.strings ?? [])]);
  const unknown = Object.keys(args).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new UsageError(`unknown option ${unknown.map((k) => `--${k}`).join(', ')}`);
}

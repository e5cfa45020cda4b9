import type minimist from 'minimist';
import { HookError } from '../errors.js';
import { didYouMean } from './suggest.js';

/** One subcommand of the binary. */
export interface Command {
  readonly name: string;
  /** One line for the overview. */
  readonly summary: string;
  /** The full `--help` text of the subcommand. */
  readonly help: string;
  readonly booleans?: readonly string[];
  readonly strings?: readonly string[];
  /** How many positional arguments it takes (max undefined: any number); unchecked when absent. */
  readonly positional?: { readonly min: number; readonly max: number | undefined; readonly what: string };
  run(args: minimist.ParsedArgs): Promise<number>;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A bad command line: main prints it with the subcommand's help and exits 2. */
export class UsageError extends HookError {}

export function describeError(e: unknown): string {
  if (e instanceof HookError) return e.describe();
  return e instanceof Error ? `internal error: ${e.stack ?? e.message}` : `internal error: ${String(e)}`;
}

/** The options every command takes. */
export const COMMON_BOOLEANS = ['help', 'verbose'] as const;

const dashed = (key: string) => (key.length === 1 ? `-${key}` : `--${key}`);

/**
 * Refuses what minimist would silently accept: options the subcommand does not know (with the
 * nearest one it does), a value option given twice or without its value, and too few or too
 * many positional arguments.
 */
export function checkOptions(command: Command, args: minimist.ParsedArgs): void {
  const strings = command.strings ?? [];
  const known = [...COMMON_BOOLEANS, ...(command.booleans ?? []), ...strings];
  for (const key of Object.keys(args)) {
    if (key === '_' || key === 'h' || known.includes(key)) continue;
    throw new UsageError(`unknown option ${dashed(key)}${didYouMean(key, known, (k) => dashed(k))}`);
  }
  for (const key of strings) {
    const value: unknown = args[key];
    if (Array.isArray(value)) throw new UsageError(`${dashed(key)} given ${value.length} times: give it once`);
    if (value === '') throw new UsageError(`${dashed(key)} needs a value`);
  }
  const p = command.positional;
  const n = args._.length;
  if (p && n < p.min) throw new UsageError(`name ${p.what}`);
  if (p && p.max !== undefined && n > p.max)
    throw new UsageError(p.max === 0 ? `takes no arguments, got ${args._.join(' ')}` : `name ${p.what}, not ${args._.map(String).join(' ')}`);
}

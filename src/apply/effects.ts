/**
 * How this process may touch the host. A hotplug call changes things; `--dry-run`
 * changes nothing and prints every read and every change it would make; `--verbose`
 * changes things and prints each step. One switch for the whole process, set once by
 * main before anything runs, so that the dry run follows the very same code path.
 */
export interface Effects {
  readonly dryRun: boolean;
  /** Where steps are narrated (stderr), or undefined for silence. */
  readonly narrate: ((line: string) => void) | undefined;
}

let current: Effects = { dryRun: false, narrate: undefined };

export function setEffects(effects: Effects): void {
  current = effects;
}

export function effects(): Effects {
  return current;
}

export function narrate(line: string): void {
  current.narrate?.(line);
}

/**
 * Runs a change to the host, or only describes it in a dry run. Every change that is
 * not an external command (a state file, a sysctl) goes through here.
 */
export async function change<T>(description: string, apply: () => T | Promise<T>, dryValue: T): Promise<T> {
  narrate(`${current.dryRun ? 'would ' : ''}${description}`);
  return current.dryRun ? dryValue : apply();
}

/** A place in a config file, 1-based, so messages read like a compiler's. */
export interface Where {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * The one error type of the product: a message a Xen admin can act on, and where
 * in which file the fault is when it comes from a config. Thrown by the shell,
 * returned (inside Result) by the pure core; main turns it into stderr +
 * xenstore hotplug-error + log + exit code.
 */
export class HookError extends Error {
  constructor(
    message: string,
    readonly where?: Where,
  ) {
    super(message);
    this.name = 'HookError';
  }

  /** `file:line:col: message`, or just the message when no file is involved. */
  describe(): string {
    return this.where ? `${formatWhere(this.where)}: ${this.message}` : this.message;
  }
}

export function formatWhere(w: Where): string {
  return `${w.file}:${w.line}:${w.col}`;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: HookError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(message: string, where?: Where): Result<T> => ({
  ok: false,
  error: new HookError(message, where),
});

/** Unwraps a Result in the shell, where a failure ends the call through main's exit path. */
export function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

/**
 * Every error found in one reading of a config: reported together, so the admin fixes them
 * in one go rather than one per attempt. As one line (log, xenstore) they are joined by "; ".
 */
export class HookErrors extends HookError {
  constructor(readonly errors: readonly [HookError, HookError, ...HookError[]]) {
    super(errors.map((e) => e.describe()).join('; '), errors[0].where);
    this.name = 'HookErrors';
  }

  override describe(): string {
    return this.message;
  }
}

/** The errors an error stands for: itself, or each of a HookErrors. */
export function errorsOf(e: HookError): readonly HookError[] {
  return e instanceof HookErrors ? e.errors : [e];
}

/** A failure carrying every error given (at least one); the same error twice (a group used twice) is reported once. */
export function failAll<T = never>(errors: readonly HookError[]): Result<T> {
  const seen = new Set<string>();
  const unique = errors.flatMap(errorsOf).filter((e) => !seen.has(e.describe()) && seen.add(e.describe()));
  const [first, second, ...rest] = unique;
  if (!first) throw new Error('failAll needs at least one error');
  return { ok: false, error: second ? new HookErrors([first, second, ...rest]) : first };
}

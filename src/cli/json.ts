/**
 * The --json output of every read-only command: one object whose `version` says which
 * format it is. Fields may be added within a version; a field that changes meaning or goes
 * away needs a new version (and vif-firewall(8) says what changed).
 */
export const JSON_FORMAT_VERSION = 1;

export type JsonOutput<T extends object> = { readonly version: typeof JSON_FORMAT_VERSION } & T;

export function jsonOutput<T extends object>(data: T): JsonOutput<T> {
  return { version: JSON_FORMAT_VERSION, ...data };
}

/** Prints a command's answer as one JSON document on stdout. */
export function writeJson<T extends object>(data: T): void {
  process.stdout.write(`${JSON.stringify(jsonOutput(data), null, 2)}\n`);
}

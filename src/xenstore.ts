import { run, tryRun } from './apply/exec.js';

/**
 * The real xenstore-read/-write commands, as Xen's own scripts use them. Relative paths
 * are relative to dom0's home (/local/domain/0), which is how XENBUS_PATH arrives.
 */

/** Reads each key on its own (xenstore-read stops at the first missing key); undefined = absent. */
export async function readKeys(paths: readonly string[]): Promise<Map<string, string | undefined>> {
  const values = await Promise.all(
    paths.map(async (p) => {
      const r = await tryRun('xenstore-read', [p]);
      return r.exitCode === 0 ? r.stdout : undefined;
    }),
  );
  return new Map(paths.map((p, i) => [p, values[i]]));
}

/** Writes all pairs in one xenstore-write call. */
export async function writeKeys(pairs: readonly (readonly [string, string])[]): Promise<void> {
  await run('xenstore-write', pairs.flat(), { changes: true });
}

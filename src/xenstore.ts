import { run, tryRun } from './apply/exec.js';

/**
 * The real xenstore clients, as Xen's own scripts use them. Relative paths are relative
 * to dom0's home (/local/domain/0), which is how XENBUS_PATH arrives. Every client call is
 * a process on the guest's start path, so reads are batched: a whole directory in one
 * `xenstore-ls`, never one `xenstore-read` per key.
 */

/** One key; undefined when it is absent. */
export async function readKey(path: string): Promise<string | undefined> {
  const r = await tryRun('xenstore-read', [path]);
  return r.exitCode === 0 ? unsanitise(r.stdout) : undefined;
}

/**
 * Every key directly under a directory (a backend dir: bridge, mac, ip, vifname …), by
 * name, from one `xenstore-ls -f DIR`; empty when the directory is absent. -f prints each
 * node's full path and never truncates (without it, a value is cut at 80 columns).
 */
export async function readDirectory(dir: string): Promise<ReadonlyMap<string, string>> {
  const r = await tryRun('xenstore-ls', ['-f', dir]);
  return r.exitCode === 0 ? parseFlatListing(r.stdout, dir) : new Map();
}

/**
 * `xenstore-ls -f` output → key → value for the direct children of dir. A line is
 * `DIR/KEY = "VALUE"`, the value escaped as xenstore-read prints it (a '"' inside is not
 * escaped, so the value runs to the line's last quote); deeper nodes and nodes that
 * vanished while listed (`DIR/KEY:`) are skipped.
 */
export function parseFlatListing(text: string, dir: string): Map<string, string> {
  const prefix = `${dir.replace(/\/+$/, '')}/`;
  const keys = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix) || !line.endsWith('"')) continue;
    const sep = line.indexOf(' = "', prefix.length);
    if (sep < 0) continue;
    const key = line.slice(prefix.length, sep);
    if (key.includes('/')) continue;
    keys.set(key, unsanitise(line.slice(sep + 4, -1)));
  }
  return keys;
}

/** Undoes xenstore's sanitise_value: \t \n \r \\ \xHH and \ooo. */
export function unsanitise(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 255);
    return ({ t: '\t', n: '\n', r: '\r' } as Record<string, string>)[e] ?? e;
  });
}

/**
 * Writes all pairs in one xenstore-write call. xenstore-write decodes escapes in a value
 * (\n, \x00 …), so a backslash is doubled: what is stored is exactly the value given.
 */
export async function writeKeys(pairs: readonly (readonly [string, string])[]): Promise<void> {
  await run('xenstore-write', pairs.flatMap(([key, value]) => [key, value.replace(/\\/g, '\\\\')]), { changes: true });
}

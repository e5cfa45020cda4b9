import { tryRun } from './exec.js';

/**
 * Connection tracking outlives rules: a flow the old guest had stays ESTABLISHED and
 * would reach the next guest given the same address. Deletes the entries of each
 * address (a network entry is skipped: conntrack -D takes addresses). Returns problems
 * for the log; never fails offline.
 */
export async function forgetConnections(addresses: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  const hosts = addresses.filter((a) => !a.includes('/') || /\/(32|128)$/.test(a)).map((a) => a.replace(/\/\d+$/, ''));
  const calls = hosts.flatMap((host) => {
    const family = host.includes(':') ? ['-f', 'ipv6'] : [];
    return [
      ['-D', ...family, '-s', host],
      ['-D', ...family, '-d', host],
    ];
  });
  const results = await Promise.all(
    calls.map((args) =>
      tryRun('conntrack', args, { changes: true }).catch((e: Error) => ({ exitCode: 127, stdout: '', stderr: e.message })),
    ),
  );
  for (const r of results) {
    // conntrack exits 1 when it found nothing to delete.
    if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr)) problems.push(`conntrack: ${r.stderr.trim()}`);
  }
  return [...new Set(problems)];
}

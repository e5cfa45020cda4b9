import type { Family } from '../rules/model.js';
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

/** One conntrack entry's original tuple: who opened the flow, to whom. */
export interface TrackedFlow {
  readonly family: Family;
  readonly proto: string;
  /** The IP protocol number conntrack prints beside the name (47 for gre). */
  readonly protocol?: number;
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

/** Every tracked flow of both families (`conntrack -L`); none when conntrack(8) is missing. */
export async function listTrackedFlows(): Promise<TrackedFlow[]> {
  const lists = await Promise.all(
    ([4, 6] as const).map(async (family) => {
      const r = await tryRun('conntrack', ['-L', '-f', family === 4 ? 'ipv4' : 'ipv6']).catch(() => undefined);
      return r && r.exitCode === 0 ? parseConntrackList(r.stdout, family) : [];
    }),
  );
  return lists.flat();
}

/** Reads `conntrack -L` lines; the first src/dst/sport/dport/type of a line are the original direction's. */
export function parseConntrackList(text: string, family: Family): TrackedFlow[] {
  const flows: TrackedFlow[] = [];
  for (const line of text.split('\n')) {
    const head = /^(\S+)\s+(\d+)\s/.exec(line);
    if (!head) continue;
    const proto = head[1]!;
    const first = (key: string) => new RegExp(`(?:^|\\s)${key}=(\\S+)`).exec(line)?.[1];
    const src = first('src');
    const dst = first('dst');
    if (!src || !dst) continue;
    const num = (key: string) => (first(key) === undefined ? undefined : Number(first(key)));
    flows.push({ family, proto, protocol: Number(head[2]), src, dst, sport: num('sport'), dport: num('dport'), icmpType: num('type'), icmpCode: num('code') });
  }
  return flows;
}

/** Deletes one flow by its original tuple, so the next packet of it meets the rules as a new one. */
export async function forgetFlow(flow: TrackedFlow): Promise<void> {
  const ports = flow.sport !== undefined && flow.dport !== undefined ? ['--sport', String(flow.sport), '--dport', String(flow.dport)] : [];
  await tryRun('conntrack', ['-D', '-f', flow.family === 4 ? 'ipv4' : 'ipv6', '-p', flow.proto, '-s', flow.src, '-d', flow.dst, ...ports], { changes: true });
}

import { parseCidr } from '../rules/address.js';
import { addressValue } from '../rules/cover.js';
import type { Cidr, Family } from '../rules/model.js';
import { effects } from './effects.js';
import { oneLine, tryRun, type Ran } from './exec.js';

/**
 * How many passes of delete-then-list a cleanup makes. `conntrack -D` lists the entries it
 * matches and deletes them one by one; when one expires in between (TIME_WAIT ones do so all
 * the time) it stops at that entry with "such conntrack doesn't exist", leaving the rest. So a
 * pass deletes, a fresh listing says what is left, and the next pass takes that.
 */
export const ROUNDS = 5;

/**
 * Connection tracking outlives rules: a flow the old guest had stays ESTABLISHED and
 * would reach the next guest given the same address. Deletes every entry with one of the
 * addresses anywhere in its tuples (sender or receiver, of the original direction or of the
 * reply, as after a DNAT port forward to the guest) until a listing finds none. A network
 * entry is skipped: conntrack takes addresses. Returns problems for the log; never fails offline.
 */
export async function forgetConnections(addresses: readonly string[]): Promise<string[]> {
  const hosts = addresses.flatMap((a) => {
    const c = parseCidr(a);
    return c.ok && c.value.prefix === (c.value.family === 4 ? 32 : 128) ? [c.value] : [];
  });
  if (hosts.length === 0) return [];
  const tracked = () => stillTracked(hosts);
  const deleteAll = async (pending: readonly Cidr[]) => {
    const calls = pending.flatMap((h) => ['-s', '-d', '--reply-src', '--reply-dst'].map((option) => ['-D', ...familyArgs(h.family), option, h.address]));
    return (await Promise.all(calls.map(conntrack))).flatMap(failure);
  };
  let first: Cidr[];
  try {
    first = await tracked();
  } catch (e) {
    return [`conntrack: cannot list the guest's connections: ${(e as Error).message}`];
  }
  const { left, errors } = await untilGone(first, deleteAll, tracked);
  const stuck = left.length ? [`conntrack: entries of ${left.map((h) => h.address).join(', ')} are still tracked after ${ROUNDS} rounds of deletion`] : [];
  return [...new Set([...stuck, ...errors])];
}

/** The hosts that one of the tracked connections (either direction of it) names; one listing per family. */
async function stillTracked(hosts: readonly Cidr[]): Promise<Cidr[]> {
  const families = [...new Set(hosts.map((h) => h.family))];
  const seen = new Set<string>();
  for (const [family, r] of await Promise.all(families.map(async (f) => [f, await conntrack(['-L', ...familyArgs(f)])] as const))) {
    const failed = failure(r);
    if (failed.length) throw new Error(failed[0]);
    for (const m of r.stdout.matchAll(/(?:src|dst)=(\S+)/g)) seen.add(`${family} ${addressValue(m[1]!, family)}`);
  }
  return hosts.filter((h) => seen.has(`${h.family} ${addressValue(h.address, h.family)}`));
}

/**
 * Deletes the flows `select` picks from a listing of the table, listing again after each pass
 * until it picks none (see ROUNDS). `listed` is a listing already made. Returns the flows the
 * first pass deleted, and problems for the log.
 */
export async function cutFlows(select: (flows: readonly TrackedFlow[]) => TrackedFlow[], listed: readonly TrackedFlow[]): Promise<{ cut: TrackedFlow[]; problems: string[] }> {
  const cut = select(listed);
  const { left, errors } = await untilGone(
    cut,
    async (pending) => (await Promise.all(pending.map(forgetFlow))).flatMap(failure),
    async () => select(await listTrackedFlows()),
  );
  const stuck = left.map((f) => `${f.proto} ${f.src}${f.sport === undefined ? '' : `:${f.sport}`} → ${f.dst}${f.dport === undefined ? '' : `:${f.dport}`}`);
  return { cut, problems: [...(stuck.length ? [`conntrack: could not cut ${stuck.join(', ')} after ${ROUNDS} rounds of deletion`] : []), ...errors] };
}

/** Removes, lists what is left, and again, at most ROUNDS times; a dry run makes one pass. Errors of the last pass only: earlier ones were retried. */
export async function untilGone<T>(first: readonly T[], remove: (items: readonly T[]) => Promise<string[]>, list: () => Promise<T[]>): Promise<{ left: readonly T[]; errors: string[] }> {
  let pending = first;
  let errors: string[] = [];
  for (let round = 0; round < ROUNDS && pending.length > 0; round++) {
    errors = await remove(pending);
    if (effects().dryRun) return { left: [], errors };
    try {
      pending = await list();
    } catch (e) {
      return { left: [], errors: [`conntrack: cannot list what is left: ${(e as Error).message}`] };
    }
  }
  return { left: pending, errors: pending.length ? errors : [] };
}

function familyArgs(family: Family): string[] {
  return ['-f', family === 4 ? 'ipv4' : 'ipv6'];
}

async function conntrack(args: readonly string[]): Promise<Ran> {
  return tryRun('conntrack', args, { changes: args[0] === '-D' }).catch((e: Error) => ({ exitCode: 127, stdout: '', stderr: e.message }));
}

/** A problem for the log, or none; conntrack exits 1 when it found nothing to delete. */
function failure(r: Ran): string[] {
  return r.exitCode === 0 || /0 flow entries/.test(r.stderr) ? [] : [`conntrack: ${oneLine(r.stderr) || `exit ${r.exitCode}`}`];
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
function forgetFlow(flow: TrackedFlow): Promise<Ran> {
  const ports = flow.sport !== undefined && flow.dport !== undefined ? ['--sport', String(flow.sport), '--dport', String(flow.dport)] : [];
  return conntrack(['-D', ...familyArgs(flow.family), '-p', flow.proto, '-s', flow.src, '-d', flow.dst, ...ports]);
}

import { parseCidr } from '../rules/address.js';
import type { Family } from '../rules/model.js';
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
 * addresses in its tuples: as sender, as receiver, and as the reply's sender (a DNAT port
 * forward to the guest), until a listing finds none. A network entry is skipped: conntrack
 * takes addresses. Returns problems for the log; never fails offline.
 */
export async function forgetConnections(addresses: readonly string[]): Promise<string[]> {
  const hosts = addresses.flatMap((a) => {
    const c = parseCidr(a);
    return c.ok && c.value.prefix === (c.value.family === 4 ? 32 : 128) ? [{ family: c.value.family, address: c.value.address }] : [];
  });
  const filters = hosts.flatMap((h) => ['-s', '-d', '--reply-src'].map((option) => ({ host: h.address, args: [...familyArgs(h.family), option, h.address] })));
  const { left, errors } = await untilGone(
    filters,
    async (pending) => (await Promise.all(pending.map((f) => conntrack(['-D', ...f.args])))).flatMap(failure),
    async () => {
      const listed = await Promise.all(filters.map(async (f) => ({ f, r: await conntrack(['-L', ...f.args]) })));
      const unlisted = listed.flatMap(({ r }) => failure(r));
      if (unlisted.length) throw new Error(unlisted[0]);
      return listed.filter(({ r }) => r.stdout.trim() !== '').map(({ f }) => f);
    },
  );
  const stuck = [...new Set(left.map((f) => f.host))];
  return [...new Set([...(stuck.length ? [`conntrack: entries of ${stuck.join(', ')} are still tracked after ${ROUNDS} rounds of deletion`] : []), ...errors])];
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

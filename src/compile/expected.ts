import type { IfName } from '../ifname.js';
import type { Family } from '../rules/model.js';
import type { VifChainBodies } from './chains.js';
import { bridgeBaseIntact, bridgeChain } from './bridge.js';
import { jumpTarget, optionValue, parseInstalled } from './installed.js';
import { deviceOfVifChain, isOurChain } from './names.js';
import { type DevicePath, installTransaction, type InstallOptions } from './transaction.js';

/**
 * What `status` holds the kernel to: the tables exactly as sequential onlines of the recorded
 * devices leave them. They are built by running the compiler's own transactions on a model of
 * the table, so every jump and dispatch rule the compiler writes (whatever hooks it grows) is
 * verified without status knowing the list.
 */

/** Our part of one family's filter table: each chain of ours, and each built-in chain's rules that jump into ours, by chain. */
export type TableModel = ReadonlyMap<string, readonly string[]>;

const BUILTIN = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);

/** Our part of `iptables-save -t filter` (counters, if any, dropped). */
export function ourPart(saveText: string): TableModel {
  const model = new Map<string, string[]>();
  let inFilter = false;
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) inFilter = line === '*filter';
    if (!inFilter) continue;
    const decl = /^:(\S+) /.exec(line);
    if (decl && (isOurChain(decl[1]!) || BUILTIN.has(decl[1]!))) model.set(decl[1]!, []);
    const rule = /^(?:\[\d+:\d+\] )?-A (\S+) (.*)$/.exec(line);
    if (rule && keeps(rule[1]!, rule[2]!)) model.get(rule[1]!)?.push(rule[2]!);
  }
  return model;
}

function keeps(chain: string, spec: string): boolean {
  if (isOurChain(chain)) return true;
  const target = jumpTarget(spec);
  return BUILTIN.has(chain) && target !== undefined && isOurChain(target);
}

/** One recorded device as online installed it. */
export interface ExpectedDevice {
  readonly path: DevicePath;
  readonly bodies: VifChainBodies;
}

/** The table after installing each device in turn into a table that held nothing of ours. */
export function expectedTable(devices: readonly ExpectedDevice[], family: Family, options: InstallOptions): TableModel {
  const model = new Map<string, string[]>();
  for (const d of devices) applyRestore(model, installTransaction(parseInstalled(saveText(model)), d.path, family, d.bodies, options));
  return model;
}

function saveText(model: TableModel): string {
  const lines = ['*filter', ...[...model.keys()].map((c) => `:${c} - [0:0]`)];
  for (const [chain, specs] of model) for (const spec of specs) lines.push(`-A ${chain} ${spec}`);
  return [...lines, 'COMMIT', ''].join('\n');
}

/** Runs the lines of an `iptables-restore --noflush` transaction that the compiler writes on the model. */
function applyRestore(model: Map<string, string[]>, text: string): void {
  const chain = (name: string) => model.get(name) ?? model.set(name, []).get(name)!;
  for (const line of text.split('\n')) {
    const [op = '', name = '', ...rest] = line.split(' ');
    const spec = rest.join(' ');
    if (op.startsWith(':')) model.set(op.slice(1), []);
    else if (op === '-N') model.set(name, []);
    else if (op === '-A') chain(name).push(spec);
    else if (op === '-I') chain(name).splice(Number(rest[0]) - 1, 0, rest.slice(1).join(' '));
    else if (op === '-D') {
      const list = chain(name);
      const i = list.indexOf(spec);
      if (i >= 0) list.splice(i, 1);
    } else if (op === '-F') model.set(name, []);
    else if (op === '-X') model.delete(name);
  }
}

/** A difference between the expected table and the kernel's, in one chain. */
export interface ChainDifference {
  readonly family: Family;
  readonly chain: string;
  /** The device the rules belong to (a per-vif chain, or a dispatch rule naming it); undefined: the skeleton every device needs. */
  readonly dev: string | undefined;
  /** The chain itself is not in the kernel. */
  readonly chainMissing: boolean;
  readonly missing: readonly string[];
  readonly extra: readonly string[];
  /** Same rules, other order: matters where the first match decides. */
  readonly reordered: boolean;
}

/**
 * Where the kernel differs from the expected table. Order is compared where it decides
 * (per-vif chains, and chains that belong to no device, such as VIF-FW's sequence); in the
 * dispatch chains each device's rules may sit in any order.
 */
export function compareTables(family: Family, expected: TableModel, kernel: TableModel): ChainDifference[] {
  const out: ChainDifference[] = [];
  for (const chain of new Set([...expected.keys(), ...kernel.keys()])) {
    const want = expected.get(chain) ?? [];
    const have = kernel.get(chain) ?? [];
    const chainMissing = expected.has(chain) && !kernel.has(chain);
    const owner = deviceOfVifChain(chain)?.dev;
    const ordered = owner !== undefined || want.every((s) => deviceOfRule(s) === undefined);
    const reordered = ordered && !sameSequence(want, have) && multisetMinus(want, have).length === 0 && multisetMinus(have, want).length === 0;
    const byDev = new Map<string | undefined, { missing: string[]; extra: string[] }>();
    const slot = (dev: string | undefined) => byDev.get(dev) ?? byDev.set(dev, { missing: [], extra: [] }).get(dev)!;
    for (const s of multisetMinus(want, have)) slot(owner ?? deviceOfRule(s)).missing.push(s);
    for (const s of multisetMinus(have, want)) slot(owner ?? deviceOfRule(s)).extra.push(s);
    if (reordered || (chainMissing && byDev.size === 0)) slot(owner);
    for (const [dev, d] of byDev) out.push({ family, chain, dev, chainMissing, ...d, reordered });
  }
  return out;
}

/** The device a dispatch rule serves: the per-vif chain it jumps to, or the bridge port it names. */
function deviceOfRule(spec: string): string | undefined {
  const target = jumpTarget(spec);
  return (target && deviceOfVifChain(target)?.dev) ?? optionValue(spec, '--physdev-out') ?? optionValue(spec, '--physdev-in');
}

function sameSequence(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** a minus b, counting duplicates. */
function multisetMinus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const s of b) left.set(s, (left.get(s) ?? 0) + 1);
  return a.filter((s) => {
    const n = left.get(s) ?? 0;
    if (n > 0) left.set(s, n - 1);
    return n === 0;
  });
}

/** A device's anti-spoofing as online installed it: how many checks its chain holds (0: level off, no chain). */
export interface ExpectedChecks {
  readonly dev: string;
  readonly checks: number;
}

/** What is wrong with our nft bridge table, host-wide or for one device. */
export type BridgeProblem =
  | { readonly code: 'bridge-table-missing' | 'bridge-base-modified' }
  | { readonly code: 'bridge-element-missing' | 'bridge-chain-missing'; readonly dev: string }
  | { readonly code: 'bridge-checks-differ'; readonly dev: string; readonly held: number; readonly installed: number };

/**
 * Holds `nft list table bridge vif-fw` (undefined: no table) to the recorded devices. nft prints
 * rules in its own words (sets reordered, implied matches dropped), so a device's checks are
 * counted, not compared word for word.
 */
export function bridgeProblems(listing: string | undefined, expected: readonly ExpectedChecks[]): BridgeProblem[] {
  const wanted = expected.filter((e) => e.checks > 0);
  if (wanted.length === 0) return [];
  if (listing === undefined) return [{ code: 'bridge-table-missing' }];
  const problems: BridgeProblem[] = bridgeBaseIntact(listing) ? [] : [{ code: 'bridge-base-modified' }];
  const bodies = chainBodies(listing);
  for (const { dev, checks } of wanted) {
    if (!listing.includes(`"${dev}" : jump ${bridgeChain(dev as IfName)}`)) problems.push({ code: 'bridge-element-missing', dev });
    const body = bodies.get(bridgeChain(dev as IfName));
    if (!body) problems.push({ code: 'bridge-chain-missing', dev });
    else if (body.length !== checks) problems.push({ code: 'bridge-checks-differ', dev, held: body.length, installed: checks });
  }
  return problems;
}

function chainBodies(listing: string): Map<string, string[]> {
  const bodies = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const start = /^chain (\S+) \{/.exec(line);
    if (start) bodies.set(start[1]!, (current = []));
    else if (line === '}') current = undefined;
    else if (current && line && !line.startsWith('type ')) current.push(line);
  }
  return bodies;
}

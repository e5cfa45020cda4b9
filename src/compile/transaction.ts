import type { IfName } from '../ifname.js';
import type { VifChainBodies } from './chains.js';
import { type Installed, type WholeSkeleton, dispatchRulesOf } from './installed.js';
import { DISPATCH, INPUT_CHAIN, SKELETON_BODY, SKELETON_CHAINS, TOP_CHAIN, vifChain } from './names.js';

/**
 * Transactions for `iptables-restore --noflush`: everything for one vif in one family
 * commits at once or not at all, and only lines that name our chains are ever written,
 * so other tools' rules are neither flushed nor moved. Each function is given what the
 * kernel holds now (read under the hook's lock) and returns exactly the change from that
 * state to the wanted one.
 */

/** Spec of a dispatch rule, in iptables-save's own order. */
const physdev = {
  in: (dev: IfName) => `-m physdev --physdev-out ${dev} --physdev-is-bridged`,
  /** No --physdev-is-bridged: a guest's out rules apply to what dom0 routes for it, too. */
  out: (dev: IfName) => `-m physdev --physdev-in ${dev}`,
};

export interface InstallOptions {
  /** ACCEPT what both sides' chains let through (needed when FORWARD's policy is DROP); off: RETURN it to FORWARD. */
  readonly acceptAllowed: boolean;
}

export function installTransaction(
  installed: Installed | WholeSkeleton,
  dev: IfName,
  bodies: VifChainBodies,
  options: InstallOptions,
): string {
  const quick = 'kind' in installed;
  // Old dispatch rules go first, so a re-install leaves exactly one copy.
  const lines = quick ? [] : [...skeletonRepair(installed), ...dispatchRulesOf(installed, dev).map(([chain, spec]) => `-D ${chain} ${spec}`)];
  for (const dir of ['in', 'out'] as const) {
    const chain = vifChain(dir, dev);
    // Declaring a chain that exists flushes it (with --noflush too): replace in place. After a
    // quick read, -N instead: it fails the commit if the device was installed after all, and
    // the caller reads everything and tries again.
    lines.push(quick ? `-N ${chain}` : `:${chain} - [0:0]`);
    for (const spec of bodies[dir]) lines.push(`-A ${chain} ${spec}`);
  }
  for (const [chain, spec] of dispatchRules(dev, options)) lines.push(`-A ${chain} ${spec}`);
  return wrap(lines);
}

/** One device's rules in the dispatch chains, as [chain, spec]. */
function dispatchRules(dev: IfName, options: InstallOptions): [string, string][] {
  return [
    [DISPATCH.out, `${physdev.out(dev)} -j ${vifChain('out', dev)}`],
    [DISPATCH.in, `${physdev.in(dev)} -j ${vifChain('in', dev)}`],
    // What the guest sends to dom0 itself passes its out rules too; what they allow goes on through INPUT.
    [INPUT_CHAIN, `${physdev.out(dev)} -j ${vifChain('out', dev)}`],
    ...(options.acceptAllowed
      ? ([
          [DISPATCH.pass, `${physdev.out(dev)} -j ACCEPT`],
          [DISPATCH.pass, `${physdev.in(dev)} -j ACCEPT`],
        ] as [string, string][])
      : []),
  ];
}

/**
 * Removes one device without reading the table, for a large table where other devices stay:
 * its dispatch rules as installTransaction adds them with these options, then its chains. If
 * the kernel holds anything else (installed with other options, or not installed), the
 * commit fails and the caller reads everything.
 */
export function quickRemoveTransaction(dev: IfName, options: InstallOptions): string {
  const chains = (['in', 'out'] as const).map((d) => vifChain(d, dev));
  return wrap([
    ...dispatchRules(dev, options).map(([chain, spec]) => `-D ${chain} ${spec}`),
    ...chains.map((c) => `-F ${c}`),
    ...chains.map((c) => `-X ${c}`),
  ]);
}

/** Removes every rule of the given devices; undefined when none of them has anything installed (offline twice is a no-op). */
export function removeTransaction(installed: Installed, devs: readonly IfName[]): string | undefined {
  const rules = devs.flatMap((dev) => dispatchRulesOf(installed, dev));
  const chains = devs.flatMap((dev) => (['in', 'out'] as const).map((d) => vifChain(d, dev))).filter((c) => installed.chains.has(c));
  if (rules.length === 0 && chains.length === 0) return undefined;
  const lastDevice = ![...installed.devices].some((d) => !(devs as readonly string[]).includes(d));
  // With the last device the dispatch chains are flushed whole. Deleting a rule and then
  // flushing its chain in one batch makes iptables-nft fail the chain deletions (EBUSY).
  const lines = lastDevice
    ? [
        ...installed.forwardJumps.map((spec) => `-D FORWARD ${spec}`),
        ...installed.inputJumps.map((spec) => `-D INPUT ${spec}`),
        ...SKELETON_CHAINS.filter((c) => installed.chains.has(c)).map((c) => `-F ${c}`),
      ]
    : rules.map(([chain, spec]) => `-D ${chain} ${spec}`);
  for (const c of chains) lines.push(`-F ${c}`);
  for (const c of chains) lines.push(`-X ${c}`);
  // A chain can only be deleted once nothing jumps to it: the skeleton goes last.
  if (lastDevice) for (const c of SKELETON_CHAINS) if (installed.chains.has(c)) lines.push(`-X ${c}`);
  return wrap(lines);
}

/**
 * The dispatch skeleton: FORWARD → VIF-FW → (VIF-FW-OUT, VIF-FW-IN, VIF-FW-PASS), and INPUT → VIF-FW-INPUT.
 * Created on first use and repaired when someone broke it; existing dispatch chains are
 * never re-declared, since that would flush every other guest's jumps.
 */
function skeletonRepair(installed: Installed): string[] {
  const lines: string[] = [];
  for (const chain of SKELETON_CHAINS) if (!installed.chains.has(chain)) lines.push(`:${chain} - [0:0]`);
  const top = installed.dispatch.get(TOP_CHAIN) ?? [];
  if (installed.chains.has(TOP_CHAIN) && !sameLines(top, SKELETON_BODY)) lines.push(`:${TOP_CHAIN} - [0:0]`);
  if (!installed.chains.has(TOP_CHAIN) || !sameLines(top, SKELETON_BODY))
    for (const spec of SKELETON_BODY) lines.push(`-A ${TOP_CHAIN} ${spec}`);
  // Exactly one jump from FORWARD, at the top, so our verdicts come before a DROP policy or others' ACCEPTs.
  if (installed.forwardJumps.length === 0) lines.push(`-I FORWARD 1 -j ${TOP_CHAIN}`);
  for (const spec of installed.forwardJumps.slice(1)) lines.push(`-D FORWARD ${spec}`);
  // The same for INPUT: a guest's traffic to dom0 meets its out rules before dom0's own accepts.
  if (installed.inputJumps.length === 0) lines.push(`-I INPUT 1 -j ${INPUT_CHAIN}`);
  for (const spec of installed.inputJumps.slice(1)) lines.push(`-D INPUT ${spec}`);
  return lines;
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function wrap(lines: readonly string[]): string {
  return ['*filter', ...lines, 'COMMIT', ''].join('\n');
}

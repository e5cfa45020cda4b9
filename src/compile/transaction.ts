import type { IfName } from '../ifname.js';
import { parseCidr } from '../rules/address.js';
import type { Cidr, Family } from '../rules/model.js';
import type { VifChainBodies } from './chains.js';
import { type Installed, dispatchRulesOf } from './installed.js';
import { DISPATCH, HOOKS, HOOK_CHAINS, INPUT_CHAIN, OUTPUT_CHAIN, SKELETON_BODY, SKELETON_CHAINS, TOP_CHAIN, type HookChain, vifChain } from './names.js';

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

/**
 * What tells one device's traffic apart. A frame the bridge forwards from port to port carries
 * its ports (br_netfilter's physdev), but what dom0 itself sends, or routes, to the guest leaves
 * through the bridge before the bridge picks a port: iptables sees only the bridge as its output
 * device. That traffic is told apart by the guest's own addresses, which the anti-spoofing checks
 * make trustworthy (no other port may send from them, and the guest may send from no other).
 */
export interface DevicePath {
  readonly dev: IfName;
  /** The bridge the device is a port of. */
  readonly bridge: string;
  /** The guest's addresses, both families (xenstore ip=); only single addresses are dispatched on (see hostAddresses). */
  readonly addresses: readonly Cidr[];
}

/** The path of a device from what online recorded of it (records.ts: dev, bridge, ip). */
export function recordedPath(record: { readonly dev: IfName; readonly bridge: string; readonly ip: readonly string[] }): DevicePath {
  // online refused any entry that does not parse: one that does not now is not ours to guess at.
  const addresses = record.ip.flatMap((text) => {
    const c = parseCidr(text);
    return c.ok ? [c.value] : [];
  });
  return { dev: record.dev, bridge: record.bridge, addresses };
}

export interface InstallOptions {
  /** ACCEPT what both sides' chains let through (needed when FORWARD's policy is DROP); off: RETURN it to FORWARD. */
  readonly acceptAllowed: boolean;
}

/** Installs or replaces one device on what the kernel holds (read under the lock), repairing the skeleton. */
export function installTransaction(installed: Installed, path: DevicePath, family: Family, bodies: VifChainBodies, options: InstallOptions): string {
  // Old dispatch rules go first, so a re-install leaves exactly one copy.
  const lines = [...skeletonRepair(installed), ...dispatchRulesOf(installed, path.dev).map(([chain, spec]) => `-D ${chain} ${spec}`)];
  // Declaring a chain that exists flushes it (with --noflush too): replace in place.
  for (const dir of ['in', 'out'] as const) lines.push(`:${vifChain(dir, path.dev)} - [0:0]`, ...chainBody(dir, path.dev, bodies));
  return wrap([...lines, ...dispatchLines(path, family, options)]);
}

/**
 * What an install is built on when it reads nothing first: the records say other devices are
 * installed, so the skeleton should be there and this device's chains should not. What one
 * device most likely new adds to a table where the skeleton is in place: its chains
 * created with -N (which fails the commit if the device was installed after all), their
 * bodies and its dispatch rules. Built by the call of the device; committed by it, or by the
 * call that holds the lock, together with other new devices (newDevicesTransaction).
 */
export function newDeviceLines(path: DevicePath, family: Family, bodies: VifChainBodies, options: InstallOptions): string[] {
  const chains = (['in', 'out'] as const).flatMap((dir) => [`-N ${vifChain(dir, path.dev)}`, ...chainBody(dir, path.dev, bodies)]);
  return [...chains, ...dispatchLines(path, family, options)];
}

/**
 * New devices (newDeviceLines of each) added in one commit, which checks the skeleton itself
 * (see skeletonChecks): it fails, changing nothing, if the skeleton is broken or any of the
 * devices was installed after all.
 */
export function newDevicesTransaction(devices: readonly (readonly string[])[]): string {
  return wrap([...skeletonChecks(), ...devices.flat()]);
}

function chainBody(dir: 'in' | 'out', dev: IfName, bodies: VifChainBodies): string[] {
  return bodies[dir].map((spec) => `-A ${vifChain(dir, dev)} ${spec}`);
}

function dispatchLines(path: DevicePath, family: Family, options: InstallOptions): string[] {
  return dispatchRules(path, family, options).map(([chain, spec]) => `-A ${chain} ${spec}`);
}

/** One device's rules in the dispatch chains, as [chain, spec]. */
function dispatchRules({ dev, bridge, addresses }: DevicePath, family: Family, options: InstallOptions): [string, string][] {
  const toGuest = hostAddresses(addresses)
    .filter((a) => a.family === family)
    .map((a) => `-d ${a.address}/${a.prefix} -o ${bridge}`);
  return [
    [DISPATCH.out, `${physdev.out(dev)} -j ${vifChain('out', dev)}`],
    [DISPATCH.in, `${physdev.in(dev)} -j ${vifChain('in', dev)}`],
    // Routed by dom0 into the bridge (a second NIC, a VPN, DNAT, a guest on another bridge): met by
    // the guest's address. Bridged frames are left out: the rule above checked them, once.
    ...toGuest.map((to): [string, string] => [DISPATCH.in, `${to} -m physdev ! --physdev-is-bridged -j ${vifChain('in', dev)}`]),
    // What the guest sends to dom0 itself passes its out rules too; what they allow goes on through INPUT.
    [INPUT_CHAIN, `${physdev.out(dev)} -j ${vifChain('out', dev)}`],
    // What dom0 itself sends the guest passes its in rules; OUTPUT never sees a bridged frame.
    // What they allow goes on through OUTPUT (and routed traffic through FORWARD), where dom0's own firewall decides.
    ...toGuest.map((to): [string, string] => [OUTPUT_CHAIN, `${to} -j ${vifChain('in', dev)}`]),
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
export function quickRemoveTransaction(path: DevicePath, family: Family, options: InstallOptions): string {
  const chains = (['in', 'out'] as const).map((d) => vifChain(d, path.dev));
  return wrap([
    ...dispatchRules(path, family, options).map(([chain, spec]) => `-D ${chain} ${spec}`),
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
        ...HOOK_CHAINS.flatMap((hook) => installed.jumps[hook].map((spec) => `-D ${hook} ${spec}`)),
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
 * The dispatch skeleton: FORWARD → VIF-FW → (VIF-FW-OUT, VIF-FW-IN, VIF-FW-PASS), INPUT → VIF-FW-INPUT
 * and OUTPUT → VIF-FW-OUTPUT.
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
  // Exactly one jump from each hook, at the top, so our verdicts come before a DROP policy or others'
  // ACCEPTs: in FORWARD for bridged and routed traffic, in INPUT for a guest's traffic to dom0, in
  // OUTPUT for dom0's traffic to a guest.
  for (const hook of HOOK_CHAINS) {
    if (installed.jumps[hook].length === 0) lines.push(`-I ${hook} 1 ${hookJump(hook)}`);
    for (const spec of installed.jumps[hook].slice(1)) lines.push(`-D ${hook} ${spec}`);
  }
  return lines;
}

/**
 * The skeleton's rules, each as a check (`-C`, which iptables-restore runs inside the
 * transaction): the commit fails unless every hook jumps to its chain of ours and TOP_CHAIN
 * holds each of its rules. Jumping to a chain needs the chain, so every skeleton chain is
 * checked too. Not checked, because no check can fail on it: a second jump, or a rule someone
 * added to our chains (status reports both; repair and any full install remove them).
 */
function skeletonChecks(): string[] {
  return [...HOOK_CHAINS.map((hook) => `-C ${hook} ${hookJump(hook)}`), ...SKELETON_BODY.map((spec) => `-C ${TOP_CHAIN} ${spec}`)];
}

function hookJump(hook: HookChain): string {
  return `-j ${HOOKS[hook]}`;
}

/**
 * The entries of ip= that name one address. A network entry is not dispatched on: on a bridge
 * shared with other hosts it would hold their addresses too, and send dom0's traffic to them
 * through this guest's rules.
 */
function hostAddresses(addresses: readonly Cidr[]): Cidr[] {
  return addresses.filter((a) => a.prefix === (a.family === 4 ? 32 : 128));
}

/**
 * Why some traffic to the guest cannot meet its in rules, for the log at online; undefined when
 * every path is covered. Without an address of a family in ip=, what dom0 sends or routes to the
 * guest in that family cannot be told apart from traffic to other ports of the bridge.
 */
export function uncoveredPaths({ dev, addresses }: DevicePath): string | undefined {
  const hosts = hostAddresses(addresses);
  const missing = ([4, 6] as const).filter((f) => !hosts.some((a) => a.family === f)).map((f) => `IPv${f}`);
  if (missing.length === 0) return undefined;
  return (
    `${dev} has no ${missing.join(' or ')} address in xenstore ip= (a single address, not a network): ` +
    `${missing.join(' and ')} traffic that dom0 sends or routes to it does not meet its in rules, only traffic bridged from another port does; ` +
    `name the guest's addresses with ip= in its vif spec`
  );
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function wrap(lines: readonly string[]): string {
  return ['*filter', ...lines, 'COMMIT', ''].join('\n');
}

import type { IfName } from '../ifname.js';

/**
 * The anti-spoofing layer lives in an nft table of the bridge family that is wholly ours:
 *
 *   table bridge vif-fw
 *     chain prerouting   hook prerouting, priority filter (-200): iifname vmap @vifs
 *     map vifs           device name → jump vif-fw-<dev>
 *     chain vif-fw-<dev> the device's checks (antispoof.ts)
 *
 * Prerouting sees every frame a guest sends, whether the bridge forwards it or delivers it to
 * dom0 itself, before br_netfilter hands it to iptables. Each call is one `nft -f` transaction.
 */
export const BRIDGE_TABLE = 'vif-fw';
const MAP = 'vifs';
export const BRIDGE_BASE_CHAIN = 'prerouting';

export function bridgeChain(dev: IfName): string {
  return `vif-fw-${dev}`;
}

/** What our bridge table holds, from `nft list table bridge vif-fw` (undefined: no table). */
export interface BridgeInstalled {
  readonly exists: boolean;
  /** Devices with a chain of their own. */
  readonly chains: ReadonlySet<string>;
  /** Devices with an element in the dispatch map. */
  readonly elements: ReadonlySet<string>;
}

/** Whether parseBridgeInstalled or bridgeBaseIntact can use a line of `nft list`: the devices' rules (most of a large table) are dropped as they arrive. */
export function isBridgeInstalledLine(line: string): boolean {
  return !/^\s*(?:ether|ip6?|arp|meta|icmpv6|udp|tcp|drop|accept|return)\b/.test(line) || line.includes('jump vif-fw-');
}

export function parseBridgeInstalled(listing: string | undefined): BridgeInstalled {
  const text = listing ?? '';
  const chains = new Set([...text.matchAll(/^\s*chain vif-fw-(\S+) \{/gm)].map((m) => m[1]!));
  const elements = new Set([...text.matchAll(/"([^"]+)" : jump vif-fw-/g)].map((m) => m[1]!));
  return { exists: listing !== undefined, chains, elements };
}

const at = (what: string) => `bridge ${BRIDGE_TABLE} ${what}`;

const BASE_TYPE = 'type filter hook prerouting priority -200; policy accept;';
const BASE_RULE = `iifname vmap @${MAP}`;

/**
 * Whether the base chain, from `nft list chain bridge vif-fw prerouting` (undefined: no such
 * chain), is exactly as we make it: then an install leaves it alone, since rewriting it
 * deletes its rule, and a commit that deletes a rule costs 10–20 ms more.
 */
export function bridgeBaseIntact(listing: string | undefined): boolean {
  const lines = (listing ?? '').split('\n').map((l) => l.trim());
  const start = lines.indexOf(`chain ${BRIDGE_BASE_CHAIN} {`);
  if (start < 0) return false;
  const body = lines.slice(start + 1, lines.indexOf('}', start));
  // nft prints priority -200 by its name.
  return body.length === 2 && body[0] === BASE_TYPE.replace('-200', 'filter') && body[1] === BASE_RULE;
}

/**
 * Installs or replaces one device's checks, with the table, map and base chain (`add` leaves
 * them as they are when they exist, and the base chain is rewritten to its one rule, which
 * repairs it); undefined for a body of none (level off: the caller removes them). Nothing needs
 * reading first: the device's chain is declared, flushed and refilled, and its map element is
 * the same whether it exists or not.
 */
export function bridgeInstallTransaction(dev: IfName, body: readonly string[]): string | undefined {
  if (body.length === 0) return undefined;
  const chain = bridgeChain(dev);
  return wrap([...BASE, `add chain ${at(chain)}`, `flush chain ${at(chain)}`, ...deviceLines(dev, body)]);
}

/** The table, map and base chain, declared (`add` leaves them as they are when they exist), and the base chain rewritten to its one rule. */
const BASE = [
  `add table bridge ${BRIDGE_TABLE}`,
  `add chain ${at(BRIDGE_BASE_CHAIN)} { ${BASE_TYPE} }`,
  `add map ${at(MAP)} { type ifname : verdict; }`,
  `flush chain ${at(BRIDGE_BASE_CHAIN)}`,
  `add rule ${at(BRIDGE_BASE_CHAIN)} ${BASE_RULE}`,
];

/** A new device's checks: its bridge chain body (compile/antispoof.ts), never empty. */
export interface NewBridgeDevice {
  readonly dev: IfName;
  readonly body: readonly string[];
}

/**
 * New devices' checks, in one commit that reads nothing first: it fails, changing nothing, if
 * any of the devices has a chain already (`create`), so that a commit that went through added
 * only what is new. With repairBase the table, map and base chain are declared and the base
 * chain rewritten first (as bridgeInstallTransaction does); without, the base chain is left
 * alone (a commit that deletes a rule costs 10–20 ms more) and the commit fails if the table
 * or map is missing.
 */
export function bridgeNewDevicesTransaction(devices: readonly NewBridgeDevice[], repairBase = false): string {
  return wrap([...(repairBase ? BASE : []), ...devices.flatMap(({ dev, body }) => [`create chain ${at(bridgeChain(dev))}`, ...deviceLines(dev, body)])]);
}

function deviceLines(dev: IfName, body: readonly string[]): string[] {
  const chain = bridgeChain(dev);
  return [...body.map((rule) => `add rule ${at(chain)} ${rule}`), `add element ${at(MAP)} { "${dev}" : jump ${chain} }`];
}

/** Removes the devices' checks, and the whole table with the last device; undefined when none of them has any. */
export function bridgeRemoveTransaction(installed: BridgeInstalled, devs: readonly IfName[]): string | undefined {
  const mine = (set: ReadonlySet<string>) => devs.filter((d) => set.has(d));
  if (mine(installed.chains).length === 0 && mine(installed.elements).length === 0) return undefined;
  const others = [...installed.chains, ...installed.elements].filter((d) => !(devs as readonly string[]).includes(d));
  if (others.length === 0) return wrap([`delete table bridge ${BRIDGE_TABLE}`]);
  return wrap(removeDevices(mine(installed.elements), mine(installed.chains)));
}

/** Removes one device's checks without reading the table, for a large table where other devices stay; the commit fails if they are not there. */
export function bridgeQuickRemoveTransaction(dev: IfName): string {
  return wrap(removeDevices([dev], [dev]));
}

function removeDevices(elements: readonly IfName[], chains: readonly IfName[]): string[] {
  return [
    ...elements.map((d) => `delete element ${at(MAP)} { "${d}" }`),
    ...chains.flatMap((d) => [`flush chain ${at(bridgeChain(d))}`, `delete chain ${at(bridgeChain(d))}`]),
  ];
}

function wrap(lines: readonly string[]): string {
  return [...lines, ''].join('\n');
}

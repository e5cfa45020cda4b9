import { unwrap } from '../errors.js';
import { parseCidr } from '../rules/address.js';
import { addressValue } from '../rules/cover.js';
import { INFRASTRUCTURE } from '../rules/services.js';
import { eui64LinkLocal, type Mac } from '../rules/mac.js';
import type { AntispoofLevel, Cidr, Family, Match, RuleSet } from '../rules/model.js';

/** What xenstore says of the device, and how much of it the guest's frames must match. */
export interface AntispoofSpec {
  readonly level: AntispoofLevel;
  readonly mac: Mac;
  /** The addresses of xenstore `ip` (the vif spec's `ip=`); undefined when it is not set: no IP anti-spoofing. */
  readonly ip: readonly Cidr[] | undefined;
}

/**
 * The body of the device's chain in our nft bridge table (see bridge.ts), in the order the
 * rules are evaluated: what a frame from the guest must carry before it may reach the bridge
 * or dom0 itself. Frames that pass every check fall through (policy accept) to iptables.
 * Empty for level `off`: the device then has no chain at all.
 */
export function compileAntispoof(spec: AntispoofSpec, ruleSet: RuleSet): string[] {
  if (spec.level === 'off') return [];
  const mac = [`ether saddr != ${spec.mac} drop`, `arp saddr ether != ${spec.mac} drop`];
  if (spec.level === 'mac') return mac;
  return [
    ...mac,
    // VLAN-tagged frames and other protocols would carry addresses the checks below never see.
    'meta protocol != { arp, ip, ip6 } drop',
    ...rogueInfrastructure(ruleSet),
    ...addressRules(spec),
  ];
}

/** What level full drops of a guest playing the network's infrastructure, and the nft rule that does. */
export interface RogueBlock {
  readonly family: Family;
  /** The service that, named in an `allow out` rule, lifts the block. */
  readonly match: Match;
  readonly what: string;
  readonly rule: string;
}

/** Rogue DHCP(v6) servers and routers, unless an `allow out` rule names the service (`allow out dhcp-server`). */
export function rogueBlocks(ruleSet: RuleSet): RogueBlock[] {
  const blocks: RogueBlock[] = [
    { family: 4, match: INFRASTRUCTURE.dhcpServer, what: 'a DHCP server', rule: 'meta protocol ip meta l4proto udp udp sport 67 drop' },
    { family: 6, match: INFRASTRUCTURE.dhcpv6Server, what: 'a DHCPv6 server', rule: 'meta protocol ip6 meta l4proto udp udp sport 547 drop' },
    { family: 6, match: INFRASTRUCTURE.router, what: 'a router', rule: 'icmpv6 type nd-router-advert drop' },
  ];
  return blocks.filter((b) => !allowsOut(ruleSet, b.match));
}

function rogueInfrastructure(ruleSet: RuleSet): string[] {
  return rogueBlocks(ruleSet).map((b) => b.rule);
}

/** The source addresses level full lets a guest use, by family (IPv6: its link-local address too); undefined without `ip`. */
export function ownSources(spec: AntispoofSpec): Record<Family, readonly Cidr[]> | undefined {
  if (!spec.ip) return undefined;
  return {
    4: spec.ip.filter((c) => c.family === 4),
    6: [unwrap(parseCidr(eui64LinkLocal(spec.mac))), ...spec.ip.filter((c) => c.family === 6)],
  };
}

/** The same match, not one that merely covers it: `allow out udp` does not make a guest a DHCP server. */
function allowsOut(ruleSet: RuleSet, match: Match): boolean {
  const same = JSON.stringify(match);
  return ruleSet.rules.some((r) => r.direction === 'out' && r.action === 'allow' && r.matches.some((m) => JSON.stringify(m) === same));
}

/**
 * Source addresses: IPv4 and ARP only from `ip`'s IPv4 entries (0.0.0.0 for an ARP probe and a
 * DHCP request); IPv6 only from `ip`'s IPv6 entries and the guest's own link-local address, and
 * `::` only for what a host sends before it has an address (duplicate address detection, MLD);
 * and neighbour advertisements only for those same IPv6 addresses.
 */
function addressRules(spec: AntispoofSpec): string[] {
  const own = ownSources(spec);
  if (!own) return [];
  const v4 = own[4].map(cidrText);
  const v6 = own[6];
  return [
    `arp saddr ip != ${set(['0.0.0.0', ...v4])} drop`,
    'ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return',
    v4.length ? `ip saddr != ${set(v4)} drop` : 'meta protocol ip drop',
    'ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } return',
    `ip6 saddr != ${set(v6.map(cidrText))} drop`,
    // IPv6's gratuitous ARP: a neighbour advertisement speaks for its target address, which must be
    // the guest's own. nft 1.0.6 (Debian 12) has no name for the field: bytes 8-23 of the ICMPv6 header.
    `icmpv6 type nd-neighbor-advert @th,64,128 != ${set(v6.map(rawRange))} drop`,
  ];
}

/** An IPv6 address or network as nft's raw 128-bit payload value: a number, or a range of them. */
function rawRange(c: Cidr): string {
  const low = addressValue(c.address, 6)!;
  const hex = (v: bigint) => `0x${v.toString(16).padStart(32, '0')}`;
  return c.prefix === 128 ? hex(low) : `${hex(low)}-${hex(low | ((1n << BigInt(128 - c.prefix)) - 1n))}`;
}

const cidrText = (c: Cidr) => (c.prefix === (c.family === 4 ? 32 : 128) ? c.address : `${c.address}/${c.prefix}`);
const set = (items: readonly string[]) => `{ ${items.join(', ')} }`;

/** What the log should say of a device's anti-spoofing, when it is less than full. */
export function antispoofWarning(spec: AntispoofSpec, dev: string): string | undefined {
  if (spec.level === 'off') return `${dev}: anti-spoofing is off (level "off"): the guest may send with any MAC and address`;
  if (spec.level !== 'full') return undefined;
  if (!spec.ip)
    return `${dev}: IP anti-spoofing is off for this vif: no ip= in its vif spec (MAC and ARP checks apply); to turn it on, list the guest's addresses in the vif spec, e.g. ip=192.0.2.10 2001:db8::10`;
  const missing = ([4, 6] as const).filter((f) => !spec.ip!.some((c) => c.family === f));
  return missing.length
    ? `${dev}: ip= lists no IPv${missing[0]} address: the guest may send IPv${missing[0]} only ${missing[0] === 4 ? 'as a DHCP client (from 0.0.0.0)' : 'from its link-local address'}`
    : undefined;
}

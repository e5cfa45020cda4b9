import { isIP } from 'node:net';
import { unwrap } from '../errors.js';
import { parseCidr } from './address.js';
import { type IcmpProto, icmpCode } from './icmp.js';
import type { AddressSet, Cidr, Family, IcmpType, Match, Port, PortRange, Rule } from './model.js';
import { parsePortRange } from './port.js';

/**
 * Containment of the parts of rules, with the same meaning the compiler gives them: shared by
 * `decide` (does a rule take this flow?) and the linter (does an earlier rule take all that a
 * later one would?), so that the two never disagree on what a rule matches.
 */

export const FAMILIES: readonly Family[] = [4, 6];
const BITS: Record<Family, number> = { 4: 32, 6: 128 };
// Constant texts: a failure here is a bug caught by the first test run.
const EVERY_ADDRESS: Record<Family, Cidr> = { 4: unwrap(parseCidr('0.0.0.0/0')), 6: unwrap(parseCidr('::/0')) };
const EVERY_PORT: PortRange = unwrap(parsePortRange('1-65535'));

/** `icmp` exists only in iptables and `icmpv6` only in ip6tables; everything else in both. */
export function matchFamilies(match: Match): readonly Family[] {
  switch (match.proto) {
    case 'icmp':
      return [4];
    case 'icmpv6':
      return [6];
    default:
      return FAMILIES;
  }
}

/**
 * What a from/to list stands for in one family: an empty list is every address, and a list
 * naming only the other family is nothing (the rule is not installed in this family's table).
 */
export function addressesIn(list: readonly Cidr[], family: Family): readonly Cidr[] {
  return list.length === 0 ? [EVERY_ADDRESS[family]] : list.filter((c) => c.family === family);
}

/** One side of a rule (`from` or `to`) whole: its addresses, its sets, and whether it is negated. */
export interface Side {
  readonly cidrs: readonly Cidr[];
  readonly sets: readonly AddressSet[];
  readonly negated: boolean;
}

export function sideOf(rule: Rule, side: 'from' | 'to'): Side {
  return side === 'from'
    ? { cidrs: rule.from, sets: rule.fromSets ?? [], negated: rule.fromNegated === true }
    : { cidrs: rule.to, sets: rule.toSets ?? [], negated: rule.toNegated === true };
}

/** Whether the side is only addresses, as before sets and negation: the linter's exact reasoning holds for those. */
export function isPlainSide(side: Side): boolean {
  return side.sets.length === 0 && !side.negated;
}

/**
 * Whether a side has anything to match in a family's table. A set always does (its half there
 * may gain members at the next `reload --sets`), and so does a negation (not 10.0.0.0/8 is
 * every IPv6 address); addresses only when one is of that family.
 */
export function sidePresent(side: Side, family: Family): boolean {
  return !isPlainSide(side) || addressesIn(side.cidrs, family).length > 0;
}

/** Whether the side takes an address of family (undefined: unknown), with each set's members as read. */
export function sideHolds(side: Side, family: Family, value: bigint | undefined): boolean {
  const listed = [...side.cidrs, ...side.sets.flatMap((s) => s.members)];
  // An unknown address is taken only by a side that takes every address of the family.
  const holds = (c: Cidr) => (value === undefined ? c.family === family && c.prefix === 0 : cidrHolds(c, family, value));
  if (side.negated) return value !== undefined && !listed.some(holds);
  if (side.cidrs.length === 0 && side.sets.length === 0) return true;
  return listed.some(holds);
}

/** The families whose table holds the rule: it has a match there and addresses on both sides. */
export function ruleFamilies(rule: Rule): readonly Family[] {
  return FAMILIES.filter(
    (f) =>
      rule.matches.some((m) => matchFamilies(m).includes(f)) &&
      sidePresent(sideOf(rule, 'from'), f) &&
      sidePresent(sideOf(rule, 'to'), f),
  );
}

/**
 * The number of an address in any text form of its family, or undefined when the text is not
 * one. Unlike parseCidr this takes IPv4-mapped IPv6 addresses: a rule may not name them, but
 * a packet can carry one, and `::/0` or a rule without addresses still matches it.
 */
export function addressValue(text: string, family: Family): bigint | undefined {
  // isIP takes zone ids, which no address of a packet has.
  if (isIP(text) !== family || text.includes('%')) return undefined;
  if (family === 4) return text.split('.').reduce((v, octet) => (v << 8n) | BigInt(octet), 0n);
  // A dotted IPv4 tail is the last two groups.
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  const hex = dotted ? `${text.slice(0, dotted.index + 1)}0:0` : text;
  const [head, tail] = hex.split('::').map((half) => (half === '' ? [] : half.split(':'))) as [string[], string[]?];
  const groups = tail ? [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  const value = groups.reduce((v, group) => (v << 16n) | BigInt(parseInt(group, 16)), 0n);
  return dotted ? value | addressValue(dotted[1]!, 4)! : value;
}

/** Whether the address numbered value, of family, lies inside cidr. */
export function cidrHolds(cidr: Cidr, family: Family, value: bigint): boolean {
  if (cidr.family !== family) return false;
  const hostBits = BigInt(BITS[family] - cidr.prefix);
  return value >> hostBits === addressValue(cidr.address, family)! >> hostBits;
}

/** Whether every address of inner is also in outer. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrHolds(outer, inner.family, addressValue(inner.address, inner.family)!);
}

/** The destination ports a tcp/udp/sctp match takes; none written means all of them, as compiled. */
export function portRanges(match: { readonly ports?: readonly PortRange[] }): readonly PortRange[] {
  return match.ports && match.ports.length > 0 ? match.ports : [EVERY_PORT];
}

/** The source ports a tcp/udp match takes: its one source range, or all of them. */
export function sourcePorts(match: { readonly sport?: PortRange }): PortRange {
  return match.sport ?? EVERY_PORT;
}

/** A port not known is any port: only a match taking every port is sure to take it. */
export function portRange(port: number | undefined): PortRange {
  return port === undefined ? EVERY_PORT : { from: port as Port, to: port as Port };
}

export function rangeWithin(inner: PortRange, outer: PortRange): boolean {
  return outer.from <= inner.from && inner.to <= outer.to;
}

/** An ICMP(v6) type by number, and the code when the name stands for one code only (`port-unreachable`). */
export interface IcmpTypeCode {
  readonly type: number;
  readonly code?: number;
}

export function icmpTypeCode(proto: IcmpProto, type: IcmpType): IcmpTypeCode {
  const [typeText, codeText] = icmpCode(proto, type).split('/') as [string, string?];
  return codeText === undefined ? { type: Number(typeText) } : { type: Number(typeText), code: Number(codeText) };
}

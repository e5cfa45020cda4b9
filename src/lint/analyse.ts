import type { Where } from '../errors.js';
import {
  FAMILIES,
  type IcmpTypeCode,
  addressesIn,
  cidrWithin,
  isPlainSide,
  sideOf,
  icmpTypeCode,
  matchFamilies,
  portRanges,
  sourcePorts,
  rangeWithin,
  ruleFamilies,
} from '../rules/cover.js';
import type { Cidr, Family, Match, Rule, RuleSet } from '../rules/model.js';

/** Something in a rule set that is allowed but almost certainly not what the admin meant. */
export interface Finding {
  readonly severity: 'warning';
  readonly at: Where;
  readonly message: string;
}

const FAMILY_NAME: Record<Family, string> = { 4: 'IPv4', 6: 'IPv6' };
const HOST_PREFIX: Record<Family, number> = { 4: 32, 6: 128 };

/**
 * Rules that are duplicates, that can never match because earlier rules of their direction take
 * all their traffic first, or that name addresses no part of them can use. Each finding is at
 * the rule at fault, the later one; findings are in position order.
 *
 * Coverage is judged one earlier rule per part of the later rule's traffic, and one earlier port
 * range or network per later one: traffic covered only by several ranges or networks together
 * goes unreported, so a warning may be missed but is never false.
 */
export function analyseRuleSet(ruleSet: RuleSet): Finding[] {
  const { rules } = ruleSet;
  const findings = rules.flatMap((rule, i) => {
    const earlier = rules.slice(0, i).filter((e) => e.direction === rule.direction);
    return [...redundancy(rule, earlier), ...unusedAddresses(rule)];
  });
  return findings.sort((a, b) => comparePositions(a.at, b.at));
}

function redundancy(rule: Rule, earlier: readonly Rule[]): Finding[] {
  const twin = earlier.find((e) => e.action === rule.action && covers(e, rule) && covers(rule, e));
  if (twin) return [warning(rule, `duplicate of ${describeLines([twin])}`)];
  const deciders = pieces(rule).map((p) => earlier.find((e) => takes(e, p)));
  if (deciders.some((d) => d === undefined)) return [];
  const lines = earlier.filter((e) => deciders.includes(e));
  const verb = lines.length > 1 ? 'decide' : 'decides';
  return [warning(rule, `never matches: ${describeLines(lines)} already ${verb} all of its traffic`)];
}

/**
 * The traffic of a rule in one family through one of its matches. A rule is split this way
 * because each part may be decided by a different earlier rule (`allow in tcp`, `allow in udp`
 * leave nothing to `drop in dns`), and because an earlier rule naming only IPv4 networks
 * decides nothing of a later rule's IPv6 part.
 */
interface Piece {
  readonly family: Family;
  readonly match: Match;
  readonly from: readonly Cidr[];
  readonly to: readonly Cidr[];
}

function pieces(rule: Rule): Piece[] {
  return ruleFamilies(rule).flatMap((family) =>
    rule.matches
      .filter((match) => matchFamilies(match).includes(family))
      .map((match) => ({ family, match, from: pieceAddresses(rule, 'from', family), to: pieceAddresses(rule, 'to', family) })),
  );
}

/**
 * A side with a set or a negation is judged as every address: its members change with
 * `reload --sets`, and a wider piece is harder to cover, so no warning becomes false.
 */
function pieceAddresses(rule: Rule, side: 'from' | 'to', family: Family): readonly Cidr[] {
  return addressesIn(isPlainSide(sideOf(rule, side)) ? rule[side] : [], family);
}

/**
 * Whether rule matches all of the piece's traffic. A rule with a set or a negation is never
 * sure to (its members change), nor one with a limit (beyond it, it lets traffic by).
 */
function takes(rule: Rule, piece: Piece): boolean {
  if (!isPlainSide(sideOf(rule, 'from')) || !isPlainSide(sideOf(rule, 'to')) || rule.limit) return false;
  return (
    rule.matches.some((m) => matchFamilies(m).includes(piece.family) && matchCovers(m, piece.match)) &&
    listCovers(addressesIn(rule.from, piece.family), piece.from) &&
    listCovers(addressesIn(rule.to, piece.family), piece.to)
  );
}

function covers(outer: Rule, inner: Rule): boolean {
  return pieces(inner).every((p) => takes(outer, p));
}

function listCovers(outer: readonly Cidr[], inner: readonly Cidr[]): boolean {
  return inner.every((c) => outer.some((o) => cidrWithin(c, o)));
}

function matchCovers(outer: Match, inner: Match): boolean {
  switch (outer.proto) {
    case 'any':
      return true;
    case 'tcp':
    case 'udp':
    case 'sctp':
      return (
        inner.proto === outer.proto &&
        portRanges(inner).every((r) => portRanges(outer).some((o) => rangeWithin(r, o))) &&
        rangeWithin(sourcePorts(inner), sourcePorts(outer))
      );
    case 'icmp':
    case 'icmpv6':
      return (
        inner.proto === outer.proto &&
        (outer.type === undefined ||
          (inner.type !== undefined &&
            icmpWithin(icmpTypeCode(inner.proto, inner.type), icmpTypeCode(outer.proto, outer.type))))
      );
    case 'other':
      return inner.proto === 'other' && inner.number === outer.number;
  }
}

/** A type covers each of its codes; a code covers only itself. */
function icmpWithin(inner: IcmpTypeCode, outer: IcmpTypeCode): boolean {
  return inner.type === outer.type && (outer.code === undefined || outer.code === inner.code);
}

/** Addresses of a family the rule is not installed for: the admin meant something else. */
function unusedAddresses(rule: Rule): Finding[] {
  const used = ruleFamilies(rule);
  return FAMILIES.filter((f) => !used.includes(f)).flatMap((family) => {
    const unused = [...rule.from, ...rule.to].filter((c) => c.family === family);
    if (unused.length === 0) return [];
    const list = unused.map(cidrText).join(', ');
    return [warning(rule, `${whyUnused(rule, family)}: ${list} ${unused.length > 1 ? 'are' : 'is'} never used`)];
  });
}

function whyUnused(rule: Rule, family: Family): string {
  const other = FAMILY_NAME[family === 4 ? 6 : 4];
  // Only icmp and icmpv6 are of one family: a rule without a match of this family has only the other kind.
  if (!rule.matches.some((m) => matchFamilies(m).includes(family))) {
    return `${rule.matches[0]!.proto} only matches ${other}`;
  }
  const side = addressesIn(rule.from, family).length === 0 ? 'from' : 'to';
  return `"${side}" names only ${other} addresses`;
}

/**
 * Named sets of vif-firewall.conf that none of the given rule sets uses: likely a typo in a
 * name, or a set left over. Only as true as the rule sets given are all of the host's.
 */
export function unusedSets(sets: ReadonlyMap<string, { readonly at: Where }>, ruleSets: readonly RuleSet[]): Finding[] {
  const used = new Set(ruleSets.flatMap((r) => r.rules.flatMap((rule) => [...(rule.fromSets ?? []), ...(rule.toSets ?? [])].map((s) => s.name))));
  return [...sets]
    .filter(([name]) => !used.has(name))
    .map(([name, set]) => ({ severity: 'warning', at: set.at, message: `set ${name} is used by none of the configs checked (no rule names @${name})` }));
}

function warning(rule: Rule, message: string): Finding {
  return { severity: 'warning', at: rule.at, message };
}

/** `line 3 ("allow in tcp")`, `lines 1 ("…") and 2 ("…")`: the admin finds them by number and text. */
function describeLines(rules: readonly Rule[]): string {
  const refs = rules.map((r) => `${r.at.line} ("${r.text}")`);
  const list = refs.length > 1 ? `${refs.slice(0, -1).join(', ')} and ${refs.at(-1)}` : refs.join('');
  return `${refs.length > 1 ? 'lines' : 'line'} ${list}`;
}

/** As written: a single host without its /32 or /128. */
function cidrText(c: Cidr): string {
  return c.prefix === HOST_PREFIX[c.family] ? c.address : `${c.address}/${c.prefix}`;
}

function comparePositions(a: Where, b: Where): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col;
}

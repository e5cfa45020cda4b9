import type { IfName } from '../ifname.js';
import { basename } from 'node:path';
import { type Side, sideOf } from '../rules/cover.js';
import { BUILT_IN } from '../rules/builtin.js';
import { icmpCode } from '../rules/icmp.js';
import type {
  Cidr,
  Direction,
  Family,
  Limit,
  Match,
  PolicyAction,
  PortProto,
  PortRange,
  RejectAnswer,
  Rule,
  RuleSet,
} from '../rules/model.js';
import { AH, protocolText } from '../rules/protocols.js';
import { ipsetName } from './ipsets.js';

/** What the compiler needs to know of the device besides its rules. */
export interface VifContext {
  readonly dev: IfName;
  /** Domain name, only ever used inside the LOG prefix. */
  readonly domain: string;
}

/** The rule specs (everything after `-A <chain>`) of one vif's two chains for one family. */
export interface VifChainBodies {
  readonly in: readonly string[];
  readonly out: readonly string[];
}

/**
 * The text below is written the way iptables-save prints it (option order, `-m tcp`,
 * `RELATED,ESTABLISHED`), so that what we compile can be compared with what the kernel
 * holds. Allowed traffic RETURNs: the verdict is given once both the sender's out chain
 * and the receiver's in chain have let it through (see transaction.ts).
 */
export function compileVifChains(ruleSet: RuleSet, family: Family, ctx: VifContext): VifChainBodies {
  return {
    in: compileDirection(ruleSet, family, 'in', ctx),
    out: compileDirection(ruleSet, family, 'out', ctx),
  };
}

/** Both families' bodies: one device's whole firewall. */
export function compileFirewall(ruleSet: RuleSet, ctx: VifContext): Record<Family, VifChainBodies> {
  return { 4: compileVifChains(ruleSet, 4, ctx), 6: compileVifChains(ruleSet, 6, ctx) };
}

function compileDirection(ruleSet: RuleSet, family: Family, direction: Direction, ctx: VifContext): string[] {
  return chainSpans(ruleSet, family, direction, ctx).flatMap((s) => s.specs);
}

/** Where a run of a chain's specs comes from: a rule of the config, or what the compiler adds itself. */
export type SpanOrigin = { readonly kind: 'rule'; readonly rule: Rule } | { readonly kind: 'built-in' | 'log' | 'policy' };

/** One direction's chain body, cut into the runs each origin compiled to, in chain order (status -v counts packets by config line). */
export function chainSpans(ruleSet: RuleSet, family: Family, direction: Direction, ctx: VifContext): { origin: SpanOrigin; specs: string[] }[] {
  return [
    { origin: { kind: 'built-in' }, specs: [...stateRules(), ...infrastructureRules(family, direction)] },
    ...ruleSet.rules.filter((r) => r.direction === direction).map((rule) => ({ origin: { kind: 'rule', rule } as const, specs: compileRule(rule, family) })),
    { origin: { kind: 'log' }, specs: ruleSet.log[direction] ? [logRule(direction, ctx)] : [] },
    { origin: { kind: 'policy' }, specs: policyRules(ruleSet.policy[direction], family) },
  ];
}

function stateRules(): string[] {
  return ['-m conntrack --ctstate INVALID -j DROP', '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN'];
}

/** The traffic let through whatever the rules and the policy (rules/builtin.ts). */
function infrastructureRules(family: Family, direction: Direction): string[] {
  return BUILT_IN.filter((b) => b.family === family && b.direction === direction).flatMap((b) =>
    matchSpecs(b.match, family).map((spec) => `${spec} -j RETURN`),
  );
}

function compileRule(rule: Rule, family: Family): string[] {
  const sources = selectors(sideOf(rule, 'from'), family, 'src');
  const destinations = selectors(sideOf(rule, 'to'), family, 'dst');
  if (!sources || !destinations) return [];
  const limit = rule.limit ? limitSpec(rule.limit) : '';
  const lines: string[] = [];
  for (const match of rule.matches) {
    const protoSpecs = matchSpecs(match, family);
    for (const src of sources)
      for (const dst of destinations)
        for (const proto of protoSpecs) {
          // iptables-save prints -s and -d first, then the matches in the order they were given.
          const spec = [src.address, dst.address, proto, src.set, dst.set, limit].filter(Boolean).join(' ');
          // The log rule carries the rule's own limit too: with the same packets and rate, its
          // bucket empties exactly when the rule's does, so only what the rule takes is logged.
          if (rule.log) lines.push(`${spec} ${RULE_LOG_LIMIT} -j LOG --log-prefix "${ruleLogPrefix(rule)}"`.trimStart());
          lines.push(`${spec} ${verdict(rule, match, family)}`.trimStart());
        }
  }
  return lines;
}

/** One way a side of a rule matches: an address before the protocol, or a set match after it. */
interface Selector {
  readonly address?: string;
  readonly set?: string;
}

/**
 * [{}] = any address; undefined = the side names addresses, none of this family, and no set:
 * the rule has nothing to do in this family's table. A negated address of the other family
 * excludes nothing here.
 */
function selectors(side: Side, family: Family, dir: 'src' | 'dst'): Selector[] | undefined {
  const flag = dir === 'src' ? '-s' : '-d';
  const not = side.negated ? '! ' : '';
  const sets: Selector[] = side.sets.map((s) => ({ set: `-m set ${not}--match-set ${ipsetName(family, s.name)} ${dir}` }));
  const mine: Selector[] = side.cidrs.filter((c) => c.family === family).map((c) => ({ address: `${not}${flag} ${cidrText(c)}` }));
  const all = [...mine, ...sets];
  if (all.length > 0) return all;
  return side.negated || side.cidrs.length === 0 ? [{}] : undefined;
}

function cidrText(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/** Protocol part of the spec; more than one when a port list exceeds multiport's 15 slots. An empty list means the match does not exist in this family. */
function matchSpecs(match: Match, family: Family): string[] {
  switch (match.proto) {
    case 'any':
      return [''];
    case 'icmp':
      if (family !== 4) return [];
      return [match.type === undefined ? '-p icmp' : `-p icmp -m icmp --icmp-type ${icmpCode('icmp', match.type)}`];
    case 'icmpv6':
      if (family !== 6) return [];
      return [match.type === undefined ? '-p ipv6-icmp' : `-p ipv6-icmp -m icmp6 --icmpv6-type ${icmpCode('icmpv6', match.type)}`];
    case 'tcp':
    case 'udp':
    case 'sctp':
      return portSpecs(match.proto, match.ports, match.sport);
    case 'other':
      // ip6tables' -p skips extension headers to the protocol after them, so AH, one of them, has its own match there.
      return [family === 6 && match.number === AH ? '-m ah' : `-p ${protocolText(match.number)}`];
  }
}

const MULTIPORT_SLOTS = 15;

function portSpecs(proto: PortProto, ports: readonly PortRange[] | undefined, sport: PortRange | undefined): string[] {
  const source = sport ? ` --sport ${rangeText(sport)}` : '';
  if (!ports || ports.length === 0) return [sport ? `-p ${proto} -m ${proto}${source}` : `-p ${proto}`];
  return chunkBySlots(ports).map((chunk) =>
    chunk.length === 1
      ? `-p ${proto} -m ${proto}${source} --dport ${rangeText(chunk[0]!)}`
      : `-p ${proto}${sport ? ` -m ${proto}${source}` : ''} -m multiport --dports ${chunk.map(rangeText).join(',')}`,
  );
}

/** multiport takes at most 15 ports, a range counting as two. */
function chunkBySlots(ports: readonly PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let current: PortRange[] = [];
  let used = 0;
  for (const p of ports) {
    const cost = p.from === p.to ? 1 : 2;
    if (used + cost > MULTIPORT_SLOTS) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(p);
    used += cost;
  }
  chunks.push(current);
  return chunks;
}

function rangeText(p: PortRange): string {
  return p.from === p.to ? String(p.from) : `${p.from}:${p.to}`;
}

function verdict(rule: Rule, match: Match, family: Family): string {
  switch (rule.action) {
    case 'allow':
      return '-j RETURN';
    case 'drop':
      return '-j DROP';
    case 'reject': {
      const answer = rule.rejectWith ?? (match.proto === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable');
      return `-j REJECT --reject-with ${REJECT_WITH[answer][family]}`;
    }
  }
}

/** Each answer as REJECT names it in each family; ICMPv6 has one "prohibited" code for all. */
const REJECT_WITH: Record<RejectAnswer, Record<Family, string>> = {
  'tcp-reset': { 4: 'tcp-reset', 6: 'tcp-reset' },
  'icmp-port-unreachable': { 4: 'icmp-port-unreachable', 6: 'icmp6-port-unreachable' },
  'icmp-host-unreachable': { 4: 'icmp-host-unreachable', 6: 'icmp6-addr-unreachable' },
  'icmp-net-unreachable': { 4: 'icmp-net-unreachable', 6: 'icmp6-no-route' },
  'icmp-admin-prohibited': { 4: 'icmp-admin-prohibited', 6: 'icmp6-adm-prohibited' },
};

/** As iptables-save prints a limit: short units, and no burst when it is the default 5. */
const LIMIT_UNIT: Record<Limit['per'], string> = { second: 'sec', minute: 'min', hour: 'hour', day: 'day' };
function limitSpec(limit: Limit): string {
  return `-m limit --limit ${limit.count}/${LIMIT_UNIT[limit.per]}${limit.burst === 5 ? '' : ` --limit-burst ${limit.burst}`}`;
}

/** A rule's log lines are rate-limited like the policy's, so a flood cannot fill the host's log. */
const RULE_LOG_LIMIT = '-m limit --limit 5/min --limit-burst 10';

/**
 * `vfw george.cfg:12 `: the file and line of the rule, so a log line leads back to it. The kernel
 * keeps 29 characters: a long file name loses its start, never the line number.
 */
export function ruleLogPrefix(rule: Rule): string {
  const line = `:${rule.at.line} `;
  const file = basename(rule.at.file).replace(/[^A-Za-z0-9_.-]/g, '_');
  return `vfw ${file.slice(-(LOG_PREFIX_MAX - 4 - line.length))}${line}`;
}

function unreachable(family: Family): string {
  return REJECT_WITH['icmp-port-unreachable'][family];
}

/** LOG is its own rule before the policy's, so its rate limit never limits the drop itself. */
function logRule(direction: Direction, ctx: VifContext): string {
  return `-m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "${logPrefix(direction, ctx)}"`;
}

/** The kernel keeps 29 characters of a LOG prefix; the device name is the part that must survive. */
const LOG_PREFIX_MAX = 29;

export function logPrefix(direction: Direction, ctx: VifContext): string {
  const head = `vfw ${direction} ${ctx.dev} `;
  const room = LOG_PREFIX_MAX - head.length - 1;
  const domain = ctx.domain.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, Math.max(0, room));
  return domain ? `${head}${domain} ` : head;
}

function policyRules(policy: PolicyAction, family: Family): string[] {
  switch (policy) {
    case 'accept':
      return ['-j RETURN'];
    case 'drop':
      return ['-j DROP'];
    case 'reject':
      return ['-p tcp -j REJECT --reject-with tcp-reset', `-j REJECT --reject-with ${unreachable(family)}`];
  }
}

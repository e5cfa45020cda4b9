import type { IfName } from '../ifname.js';
import { BUILT_IN } from '../rules/builtin.js';
import { icmpCode } from '../rules/icmp.js';
import type { Cidr, Direction, Family, Match, PolicyAction, PortRange, Rule, RuleSet } from '../rules/model.js';

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
  const rules = ruleSet.rules.filter((r) => r.direction === direction).flatMap((r) => compileRule(r, family));
  return [
    ...stateRules(),
    ...infrastructureRules(family, direction),
    ...rules,
    ...(ruleSet.log[direction] ? [logRule(direction, ctx)] : []),
    ...policyRules(ruleSet.policy[direction], family),
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
  const sources = addressesFor(rule.from, family);
  const destinations = addressesFor(rule.to, family);
  if (!sources || !destinations) return [];
  const lines: string[] = [];
  for (const match of rule.matches) {
    const protoSpecs = matchSpecs(match, family);
    for (const src of sources)
      for (const dst of destinations)
        for (const proto of protoSpecs) {
          const parts = [src && `-s ${cidrText(src)}`, dst && `-d ${cidrText(dst)}`, proto, verdict(rule.action, match, family)];
          lines.push(parts.filter(Boolean).join(' '));
        }
  }
  return lines;
}

/**
 * [undefined] = any address; undefined = the rule names addresses, none of this family,
 * so it has nothing to do in this family's table.
 */
function addressesFor(list: readonly Cidr[], family: Family): (Cidr | undefined)[] | undefined {
  if (list.length === 0) return [undefined];
  const mine = list.filter((c) => c.family === family);
  return mine.length > 0 ? mine : undefined;
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
      return portSpecs(match.proto, match.ports, match.sport);
  }
}

const MULTIPORT_SLOTS = 15;

function portSpecs(proto: 'tcp' | 'udp', ports: readonly PortRange[] | undefined, sport: PortRange | undefined): string[] {
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

function verdict(action: Rule['action'], match: Match, family: Family): string {
  switch (action) {
    case 'allow':
      return '-j RETURN';
    case 'drop':
      return '-j DROP';
    case 'reject':
      return match.proto === 'tcp' ? '-j REJECT --reject-with tcp-reset' : `-j REJECT --reject-with ${unreachable(family)}`;
  }
}

function unreachable(family: Family): string {
  return family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
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

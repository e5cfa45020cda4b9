import { ruleFamilies, sideOf } from '../rules/cover.js';
import { describeOrigin } from './origin.js';
import type { Cidr, Match, PortRange, Rule, RuleSet } from '../rules/model.js';
import { protocolText } from '../rules/protocols.js';

/** A rule set in plain words, one line per rule, for `show`. */
export function describeRuleSet(ruleSet: RuleSet): string[] {
  const lines = ruleSet.rules.map((r) => `${describeOrigin(r)}: ${describeRule(r)}`);
  for (const dir of ['in', 'out'] as const) {
    const what = dir === 'in' ? 'to the guest' : 'from the guest';
    lines.push(`policy: ${ruleSet.policy[dir]} all other traffic ${what}${ruleSet.log[dir] ? ', logged first (rate limited)' : ''}`);
  }
  return lines;
}

export function describeRule(rule: Rule): string {
  const direction = rule.direction === 'in' ? 'traffic to the guest' : 'traffic from the guest';
  const parts = [`${rule.action} ${direction}`, rule.matches.map(describeMatch).join(' or ')];
  for (const name of ['from', 'to'] as const) {
    const side = sideOf(rule, name);
    const entries = [...side.cidrs.map(cidrText), ...side.sets.map((s) => `set @${s.name}`)];
    if (entries.length) parts.push(`${name} ${side.negated ? 'anywhere but ' : ''}${entries.join(', ')}`);
  }
  if (rule.limit) parts.push(`up to ${rule.limit.count}/${rule.limit.per} (burst ${rule.limit.burst})`);
  if (rule.rejectWith) parts.push(`answered with ${rule.rejectWith}`);
  if (rule.log) parts.push('logged');
  return `${parts.filter(Boolean).join(', ')} (${families(rule)})   [${rule.text}]`;
}

function describeMatch(m: Match): string {
  switch (m.proto) {
    case 'any':
      return '';
    case 'tcp':
    case 'udp':
    case 'sctp': {
      const from = m.sport ? ` from port ${rangeText(m.sport)}` : '';
      return m.ports?.length ? `${m.proto.toUpperCase()}${from} to port${m.ports.length > 1 || m.ports[0]!.from !== m.ports[0]!.to ? "s" : ""} ${m.ports.map(rangeText).join(", ")}` : `${m.sport ? '' : 'any '}${m.proto.toUpperCase()}${from}`;
    }
    case 'icmp':
      return m.type ? `ICMP ${m.type}` : 'any ICMP';
    case 'icmpv6':
      return m.type ? `ICMPv6 ${m.type}` : 'any ICMPv6';
    case 'other':
      return `protocol ${protocolText(m.number)}`;
  }
}

/** The families whose table holds the rule, as the compiler decides them. */
function families(rule: Rule): string {
  return ruleFamilies(rule)
    .map((f) => `IPv${f}`)
    .join(' and ');
}

const rangeText = (p: PortRange) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`);
const cidrText = (c: Cidr) => `${c.address}/${c.prefix}`;

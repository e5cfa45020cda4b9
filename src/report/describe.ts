import { describeOrigin } from './origin.js';
import type { Cidr, Match, PortRange, Rule, RuleSet } from '../rules/model.js';

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
  if (rule.from.length) parts.push(`from ${rule.from.map(cidrText).join(', ')}`);
  if (rule.to.length) parts.push(`to ${rule.to.map(cidrText).join(', ')}`);
  return `${parts.filter(Boolean).join(', ')} (${families(rule)})   [${rule.text}]`;
}

function describeMatch(m: Match): string {
  switch (m.proto) {
    case 'any':
      return '';
    case 'tcp':
    case 'udp': {
      const from = m.sport ? ` from port ${rangeText(m.sport)}` : '';
      return m.ports?.length ? `${m.proto.toUpperCase()}${from} to port${m.ports.length > 1 || m.ports[0]!.from !== m.ports[0]!.to ? "s" : ""} ${m.ports.map(rangeText).join(", ")}` : `${m.sport ? '' : 'any '}${m.proto.toUpperCase()}${from}`;
    }
    case 'icmp':
      return m.type ? `ICMP ${m.type}` : 'any ICMP';
    case 'icmpv6':
      return m.type ? `ICMPv6 ${m.type}` : 'any ICMPv6';
  }
}

function families(rule: Rule): string {
  const addrs = [...rule.from, ...rule.to];
  const byProto = rule.matches.every((m) => m.proto === 'icmp') ? [4] : rule.matches.every((m) => m.proto === 'icmpv6') ? [6] : [4, 6];
  const byAddr = addrs.length ? [...new Set(addrs.map((c) => c.family))] : [4, 6];
  const fams = byProto.filter((f) => byAddr.includes(f as 4 | 6));
  return fams.map((f) => `IPv${f}`).join(' and ');
}

const rangeText = (p: PortRange) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`);
const cidrText = (c: Cidr) => `${c.address}/${c.prefix}`;

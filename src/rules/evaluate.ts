import { HookError } from '../errors.js';
import {
  addressValue,
  icmpTypeCode,
  matchFamilies,
  portRange,
  portRanges,
  sideHolds,
  sideOf,
  sourcePorts,
  rangeWithin,
} from './cover.js';
import type { Action, Direction, Family, Match, PolicyAction, Rule, RuleSet } from './model.js';

/** One connection as conntrack lists it, seen from the guest's side. */
export interface Flow {
  /** `in` = to the guest, `out` = from the guest. */
  readonly direction: Direction;
  readonly family: Family;
  readonly proto: 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'other';
  /** For `other`: the IP protocol number (47 for GRE); when unknown, only rules for any protocol take the flow. */
  readonly protocol?: number;
  /**
   * An address of `family`, in any of its text forms (conntrack prints 192.0.2.1, 2001:db8::1);
   * when unknown, only rules taking every address of the family on that side take the flow.
   */
  readonly source?: string;
  readonly destination?: string;
  /** tcp/udp/sctp; when unknown, only rules without ports take the flow. */
  readonly dport?: number;
  /** tcp/udp/sctp; when unknown, only rules without a source port take the flow. */
  readonly sport?: number;
  /** icmp/icmpv6; when unknown, only rules without a type take the flow. */
  readonly icmpType?: number;
  /** icmp/icmpv6; when unknown, a rule for one code of the type takes the flow (see matchTakes). */
  readonly icmpCode?: number;
}

const POLICY_DECISION: Record<PolicyAction, Action> = { accept: 'allow', drop: 'drop', reject: 'reject' };

/**
 * What the guest's rules decide for a new flow like this one: the first rule of its direction
 * that takes it, else that direction's policy. The traffic every chain lets through whatever
 * the rules (DHCP, IPv6 neighbour discovery) is not the rule set's and is not modelled here.
 * A rule with a `limit` is judged for the first packets, within the rate (beyond it the rule
 * does not match, and later rules decide); `log` changes no decision; a set is judged by its
 * members when the rules were read.
 *
 * @throws HookError when source or destination is not an address of flow.family: judging a
 * misread flow would end or keep a connection for no reason.
 */
export function decide(ruleSet: RuleSet, flow: Flow): Action {
  return decision(ruleSet, flow).action;
}

/** What decides a flow: the first rule of its direction that takes it, or (no rule) the policy. */
export interface Decision {
  readonly action: Action;
  readonly rule?: Rule;
}

/** decide, saying which rule decided. */
export function decision(ruleSet: RuleSet, flow: Flow): Decision {
  const source = flowAddress(flow.source, flow.family);
  const destination = flowAddress(flow.destination, flow.family);
  const takes = (rule: Rule) =>
    rule.direction === flow.direction &&
    rule.matches.some((m) => matchTakes(m, flow)) &&
    sideHolds(sideOf(rule, 'from'), flow.family, source) &&
    sideHolds(sideOf(rule, 'to'), flow.family, destination);
  const rule = ruleSet.rules.find(takes);
  return rule ? { action: rule.action, rule } : { action: POLICY_DECISION[ruleSet.policy[flow.direction]] };
}

function flowAddress(text: string | undefined, family: Family): bigint | undefined {
  if (text === undefined) return undefined;
  const value = addressValue(text, family);
  if (value === undefined) throw new HookError(`"${text}" is not an IPv${family} address`);
  return value;
}

/** Whether a protocol match takes the flow (family, protocol, ports, ICMP type); addresses aside. */
export function matchTakes(match: Match, flow: Flow): boolean {
  if (!matchFamilies(match).includes(flow.family)) return false;
  switch (match.proto) {
    case 'any':
      return true;
    case 'tcp':
    case 'udp':
    case 'sctp': {
      const port = portRange(flow.dport);
      return (
        flow.proto === match.proto &&
        portRanges(match).some((r) => rangeWithin(port, r)) &&
        rangeWithin(portRange(flow.sport), sourcePorts(match))
      );
    }
    case 'icmp':
    case 'icmpv6': {
      if (flow.proto !== match.proto) return false;
      if (match.type === undefined) return true;
      // A conntrack flow carries no code, so there a rule for one code (port-unreachable = 3/3)
      // takes its whole type. It seldom matters: conntrack keeps query types (echo, timestamp…),
      // which have no codes, and error types only as RELATED to another connection.
      const wanted = icmpTypeCode(match.proto, match.type);
      return (
        flow.icmpType === wanted.type &&
        (wanted.code === undefined || flow.icmpCode === undefined || flow.icmpCode === wanted.code)
      );
    }
    case 'other':
      return flow.proto === 'other' && flow.protocol === match.number;
  }
}

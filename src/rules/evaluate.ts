import { HookError } from '../errors.js';
import {
  addressValue,
  addressesIn,
  cidrHolds,
  icmpTypeCode,
  matchFamilies,
  portRange,
  portRanges,
  sourcePorts,
  rangeWithin,
} from './cover.js';
import type { Action, Cidr, Direction, Family, Match, PolicyAction, Rule, RuleSet } from './model.js';

/** One connection as conntrack lists it, seen from the guest's side. */
export interface Flow {
  /** `in` = to the guest, `out` = from the guest. */
  readonly direction: Direction;
  readonly family: Family;
  readonly proto: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'other';
  /**
   * An address of `family`, in any of its text forms (conntrack prints 192.0.2.1, 2001:db8::1);
   * when unknown, only rules taking every address of the family on that side take the flow.
   */
  readonly source?: string;
  readonly destination?: string;
  /** tcp/udp; when unknown, only rules without ports take the flow. */
  readonly dport?: number;
  /** tcp/udp; when unknown, only rules without a source port take the flow. */
  readonly sport?: number;
  /** icmp/icmpv6; when unknown, only rules without a type take the flow. */
  readonly icmpType?: number;
}

const POLICY_DECISION: Record<PolicyAction, Action> = { accept: 'allow', drop: 'drop', reject: 'reject' };

/**
 * What the guest's rules decide for a new flow like this one: the first rule of its direction
 * that takes it, else that direction's policy. The traffic every chain lets through whatever
 * the rules (DHCP, IPv6 neighbour discovery) is not the rule set's and is not modelled here.
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
    listHolds(rule.from, flow.family, source) &&
    listHolds(rule.to, flow.family, destination);
  const rule = ruleSet.rules.find(takes);
  return rule ? { action: rule.action, rule } : { action: POLICY_DECISION[ruleSet.policy[flow.direction]] };
}

function flowAddress(text: string | undefined, family: Family): bigint | undefined {
  if (text === undefined) return undefined;
  const value = addressValue(text, family);
  if (value === undefined) throw new HookError(`"${text}" is not an IPv${family} address`);
  return value;
}

function listHolds(list: readonly Cidr[], family: Family, address: bigint | undefined): boolean {
  return addressesIn(list, family).some((c) => (address === undefined ? c.prefix === 0 : cidrHolds(c, family, address)));
}

/** Whether a protocol match takes the flow (family, protocol, ports, ICMP type); addresses aside. */
export function matchTakes(match: Match, flow: Flow): boolean {
  if (!matchFamilies(match).includes(flow.family)) return false;
  switch (match.proto) {
    case 'any':
      return true;
    case 'tcp':
    case 'udp': {
      const port = portRange(flow.dport);
      return (
        flow.proto === match.proto &&
        portRanges(match).some((r) => rangeWithin(port, r)) &&
        rangeWithin(portRange(flow.sport), sourcePorts(match))
      );
    }
    case 'icmp':
    case 'icmpv6':
      // A flow carries no code, so a rule for one code (port-unreachable = 3/3) takes its whole
      // type. It seldom matters: conntrack keeps query types (echo, timestamp…), which have no
      // named codes, and error types only as RELATED to another connection.
      return (
        flow.proto === match.proto &&
        (match.type === undefined ||
          (flow.icmpType !== undefined && icmpTypeCode(match.proto, match.type).type === flow.icmpType))
      );
  }
}

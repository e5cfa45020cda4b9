import type { TrackedFlow } from '../apply/conntrack.js';
import { addressValue, cidrHolds } from '../rules/cover.js';
import { decide, type Flow } from '../rules/evaluate.js';
import type { Cidr, Direction, RuleSet } from '../rules/model.js';

/**
 * The established flows of a guest that its new rules would not let start: `reload`
 * deletes their conntrack entries, or they would flow on through the ESTABLISHED rule.
 * A flow is the guest's when one end lies in its addresses; that end gives the direction.
 */
export function flowsToCut(ruleSet: RuleSet, guest: readonly Cidr[], flows: readonly TrackedFlow[]): TrackedFlow[] {
  return flows.filter((f) => {
    // An entry whose addresses do not read as its family's is not judged: cutting or keeping it would be a guess.
    if (addressValue(f.src, f.family) === undefined || addressValue(f.dst, f.family) === undefined) return false;
    const direction = directionOf(f, guest);
    return direction !== undefined && decide(ruleSet, toFlow(f, direction)) !== 'allow';
  });
}

function directionOf(f: TrackedFlow, guest: readonly Cidr[]): Direction | undefined {
  const mine = (address: string) => {
    const value = addressValue(address, f.family);
    return value !== undefined && guest.some((c) => cidrHolds(c, f.family, value));
  };
  const toGuest = mine(f.dst);
  const fromGuest = mine(f.src);
  if (toGuest === fromGuest) return undefined;
  return toGuest ? 'in' : 'out';
}

function toFlow(f: TrackedFlow, direction: Direction): Flow {
  const proto = f.proto === 'tcp' || f.proto === 'udp' || f.proto === 'sctp' || f.proto === 'icmp' ? f.proto : f.proto === 'icmpv6' || f.proto === 'ipv6-icmp' ? 'icmpv6' : 'other';
  // Rules name other protocols by number (`allow in gre` is 47): the flow carries its number.
  const protocol = proto === 'other' ? f.protocol : undefined;
  return { direction, family: f.family, proto, protocol, source: f.src, destination: f.dst, dport: f.dport, sport: f.sport, icmpType: f.icmpType, icmpCode: f.icmpCode };
}

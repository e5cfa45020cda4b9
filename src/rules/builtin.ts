import { unwrap } from '../errors.js';
import type { Direction, Family, Match } from './model.js';
import { parsePortList, parsePortRange } from './port.js';

/** Traffic every vif's chains let through before the guest's rules, whatever they and the policy say. */
export interface BuiltIn {
  readonly family: Family;
  readonly direction: Direction;
  readonly match: Match;
  /** What it is, for `simulate`. */
  readonly what: string;
}

// Constant texts: a bad port here is a bug caught by the first test run.
const udp = (sport: string, dport: string): Match => ({ proto: 'udp', ports: unwrap(parsePortList(dport)), sport: unwrap(parsePortRange(sport)) });
const icmpv6 = (type: string): Match => ({ proto: 'icmpv6', type });

/**
 * Without these a guest's network does not work at all: the DHCP replies/requests of the guest
 * as a client, and IPv6 neighbour discovery and router solicitation/advertisement (unlike ARP
 * it runs over IP, so ip6tables sees it). In chain order; compile/chains.ts installs them.
 */
export const BUILT_IN: readonly BuiltIn[] = [
  { family: 4, direction: 'in', match: udp('67', '68'), what: 'a DHCP reply to the guest as a client' },
  { family: 4, direction: 'out', match: udp('68', '67'), what: 'a DHCP request of the guest as a client' },
  ...(['in', 'out'] as const).flatMap((direction): BuiltIn[] => [
    { family: 6, direction, match: icmpv6('neighbour-solicitation'), what: 'IPv6 neighbour discovery' },
    { family: 6, direction, match: icmpv6('neighbour-advertisement'), what: 'IPv6 neighbour discovery' },
  ]),
  { family: 6, direction: 'in', match: icmpv6('router-advertisement'), what: 'a router advertisement to the guest' },
  { family: 6, direction: 'out', match: icmpv6('router-solicitation'), what: 'a router solicitation of the guest' },
  { family: 6, direction: 'in', match: udp('547', '546'), what: 'a DHCPv6 reply to the guest as a client' },
  { family: 6, direction: 'out', match: udp('546', '547'), what: 'a DHCPv6 request of the guest as a client' },
];

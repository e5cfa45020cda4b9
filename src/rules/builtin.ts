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

/** MLD's ICMPv6 types (RFC 2710, RFC 3810); ip6tables has no names for them. */
const MLD = { query: '130', report: '131', done: '132', report2: '143' } as const;

/**
 * Without these a guest's network does not work at all: the DHCP replies/requests of the guest
 * as a client, IPv6 neighbour discovery and router solicitation/advertisement (unlike ARP it
 * runs over IP, so ip6tables sees it), and multicast listener discovery (MLD: the reports and
 * done messages with which the guest joins and leaves IPv6 multicast groups, including its own
 * solicited-node groups that ND needs behind a snooping switch, the queries it answers with
 * reports, and queries of its own when it is the link's querier). Conntrack does not track ND,
 * RS/RA nor MLD, so these never count as ESTABLISHED. In chain order (per family and
 * direction); compile/chains.ts installs them.
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
  { family: 6, direction: 'in', match: icmpv6(MLD.query), what: 'an MLD query to the guest' },
  ...[MLD.query, MLD.report, MLD.done, MLD.report2].map((type): BuiltIn => ({ family: 6, direction: 'out', match: icmpv6(type), what: 'MLD of the guest' })),
  { family: 6, direction: 'in', match: udp('547', '546'), what: 'a DHCPv6 reply to the guest as a client' },
  { family: 6, direction: 'out', match: udp('546', '547'), what: 'a DHCPv6 request of the guest as a client' },
];

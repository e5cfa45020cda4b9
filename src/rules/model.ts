import type { Where } from '../errors.js';

/** The generic, technology-neutral rule model (compare libvirt nwfilter): the compiler turns it into iptables. */

export type Family = 4 | 6;
export type Action = 'allow' | 'drop' | 'reject';
/** `in` = traffic to the guest, `out` = traffic from the guest. */
export type Direction = 'in' | 'out';
export type PolicyAction = 'accept' | 'drop' | 'reject';

declare const portBrand: unique symbol;
/** A TCP/UDP port number, 1..65535; only parsePort makes one. */
export type Port = number & { readonly [portBrand]: true };

/** An inclusive port range; a single port has from === to. */
export interface PortRange {
  readonly from: Port;
  readonly to: Port;
}

/** An address or network in canonical text form (`192.0.2.0/24`, `2001:db8::/32`); only parseCidr makes one. */
export interface Cidr {
  readonly family: Family;
  /** Canonical address text without prefix, host bits zero. */
  readonly address: string;
  readonly prefix: number;
}

/** An ICMP or ICMPv6 type as iptables names it (`echo-request`) or as its number. */
export type IcmpType = string;

/** The protocols with ports. */
export type PortProto = 'tcp' | 'udp' | 'sctp';

/** What a rule matches at layer 4. `icmp` only ever matches IPv4, `icmpv6` only IPv6. */
export type Match =
  | { readonly proto: 'any' }
  | {
      readonly proto: PortProto;
      /** Destination ports; none = every port. */
      readonly ports?: readonly PortRange[];
      /** Source ports (`sport 1024-65535`); none = every port. */
      readonly sport?: PortRange;
    }
  /** `icmp 3/4`: a type may carry a code (see icmp.ts). */
  | { readonly proto: 'icmp'; readonly type?: IcmpType }
  | { readonly proto: 'icmpv6'; readonly type?: IcmpType }
  /**
   * Any other IP protocol by number (`esp` = 50, `gre` = 47, `proto 112`), without ports:
   * never 0 nor an IPv6 extension header, and never a protocol that has its own kind above.
   */
  | { readonly proto: 'other'; readonly number: ProtocolNumber };

declare const protocolBrand: unique symbol;
/** An IP protocol number, 1..255; only protocols.ts makes one. */
export type ProtocolNumber = number & { readonly [protocolBrand]: true };

/**
 * A named address set of vif-firewall.conf (`set_admins = [ … ]`) as a rule uses it: the
 * kernel holds it as one ipset per family, so its members can change without touching the rule.
 */
export interface AddressSet {
  readonly name: string;
  /** The members when the rules were read: what `decide` judges by. */
  readonly members: readonly Cidr[];
}

/** A rate as iptables' limit match takes it: `limit 50/second burst 100`. */
export interface Limit {
  readonly count: number;
  readonly per: 'second' | 'minute' | 'hour' | 'day';
  /** Packets let through at once before the rate applies; iptables' default is 5. */
  readonly burst: number;
}

/** The answers `reject … with X` may choose; each has a counterpart in both families (see compile/chains.ts). */
export const REJECT_ANSWERS = [
  'tcp-reset',
  'icmp-port-unreachable',
  'icmp-host-unreachable',
  'icmp-net-unreachable',
  'icmp-admin-prohibited',
] as const;
export type RejectAnswer = (typeof REJECT_ANSWERS)[number];

export interface Rule {
  readonly action: Action;
  readonly direction: Direction;
  /** One or more protocol matches (a service such as `dns` or `ping` expands to several); the rule matches if any does. */
  readonly matches: readonly Match[];
  /** Empty = any source. */
  readonly from: readonly Cidr[];
  /** Empty = any destination. */
  readonly to: readonly Cidr[];
  /** Named sets listed beside `from`'s addresses (`from @admins, 192.0.2.5`); absent = none. */
  readonly fromSets?: readonly AddressSet[];
  readonly toSets?: readonly AddressSet[];
  /**
   * `from !X`: every source but X, where X (the one entry of from + fromSets) is an address or
   * a set. In the other family than an address's, that is every address.
   */
  readonly fromNegated?: true;
  readonly toNegated?: true;
  /** `limit 50/second burst 100`: beyond the rate the rule does not match, and later rules or the policy decide. */
  readonly limit?: Limit;
  /** `log`: each packet the rule takes is logged (rate-limited) with the rule's file:line. */
  readonly log?: true;
  /** `reject … with X`; absent = by protocol (tcp-reset for tcp, port-unreachable otherwise). Only on reject. */
  readonly rejectWith?: RejectAnswer;
  /** The rule's text as written, for logs and `show`. */
  readonly text: string;
  /** Where the rule's own text is: the guest's config, or the settings file for a group's or a default rule. */
  readonly at: Where;
  /** How the rule got into the guest's rule set; absent when the guest's config names it itself. */
  readonly origin?: Origin;
}

/** A `use NAME` that brought a group's rules in. */
export interface GroupUse {
  readonly group: string;
  /** The `use` itself: in the guest's config, in firewall_default, or in another group. */
  readonly at: Where;
}

/** Where a rule came from when the guest's config does not name it itself (see report/origin.ts). */
export interface Origin {
  /** From the host's firewall_default, not the guest's config. */
  readonly hostDefault: boolean;
  /** The uses that led to the rule, outermost first; empty when the rule was written out. */
  readonly via: readonly GroupUse[];
}

export interface RuleSet {
  /** In order; first match wins. */
  readonly rules: readonly Rule[];
  readonly policy: { readonly in: PolicyAction; readonly out: PolicyAction };
  readonly log: { readonly in: boolean; readonly out: boolean };
}

/**
 * How much of a guest's own identity its frames must carry (see compile/antispoof.ts):
 * `full` its MAC, ARP for its MAC and addresses, IP sources in `ip=`, no rogue DHCP
 * servers or routers; `mac` only its MAC (frames and ARP); `off` nothing.
 */
export const ANTISPOOF_LEVELS = ['full', 'mac', 'off'] as const;
export type AntispoofLevel = (typeof ANTISPOOF_LEVELS)[number];

export const DEFAULT_POLICY = { in: 'drop', out: 'accept' } as const satisfies RuleSet['policy'];

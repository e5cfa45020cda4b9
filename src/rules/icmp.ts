import type { IcmpType } from './model.js';

export type IcmpProto = 'icmp' | 'icmpv6';

interface TypeNames {
  /** Canonical name → `type` or `type/code`, as iptables-save prints the match. */
  readonly canonical: Readonly<Record<string, string>>;
  readonly aliases: Readonly<Record<string, string>>;
}

/**
 * The type names iptables accepts for `--icmp-type` and ip6tables for `--icmpv6-type`
 * (extensions/libxt_icmp.h), each in iptables' own spelling. Aliases map to the name
 * iptables prints for the same type/code, so one rule has one spelling. iptables' `any`
 * is left out: plain `icmp` already means every type.
 */
const NAMES: Record<IcmpProto, TypeNames> = {
  icmp: {
    canonical: {
      'echo-reply': '0',
      'destination-unreachable': '3',
      'network-unreachable': '3/0',
      'host-unreachable': '3/1',
      'protocol-unreachable': '3/2',
      'port-unreachable': '3/3',
      'fragmentation-needed': '3/4',
      'source-route-failed': '3/5',
      'network-unknown': '3/6',
      'host-unknown': '3/7',
      'network-prohibited': '3/9',
      'host-prohibited': '3/10',
      'TOS-network-unreachable': '3/11',
      'TOS-host-unreachable': '3/12',
      'communication-prohibited': '3/13',
      'host-precedence-violation': '3/14',
      'precedence-cutoff': '3/15',
      'source-quench': '4',
      'redirect': '5',
      'network-redirect': '5/0',
      'host-redirect': '5/1',
      'TOS-network-redirect': '5/2',
      'TOS-host-redirect': '5/3',
      'echo-request': '8',
      'router-advertisement': '9',
      'router-solicitation': '10',
      'time-exceeded': '11',
      'ttl-zero-during-transit': '11/0',
      'ttl-zero-during-reassembly': '11/1',
      'parameter-problem': '12',
      'ip-header-bad': '12/0',
      'required-option-missing': '12/1',
      'timestamp-request': '13',
      'timestamp-reply': '14',
      'address-mask-request': '17',
      'address-mask-reply': '18',
    },
    aliases: { pong: 'echo-reply', ping: 'echo-request', 'ttl-exceeded': 'time-exceeded' },
  },
  icmpv6: {
    canonical: {
      'destination-unreachable': '1',
      'no-route': '1/0',
      'communication-prohibited': '1/1',
      'beyond-scope': '1/2',
      'address-unreachable': '1/3',
      'port-unreachable': '1/4',
      'failed-policy': '1/5',
      'reject-route': '1/6',
      'packet-too-big': '2',
      'time-exceeded': '3',
      'ttl-zero-during-transit': '3/0',
      'ttl-zero-during-reassembly': '3/1',
      'parameter-problem': '4',
      'bad-header': '4/0',
      'unknown-header-type': '4/1',
      'unknown-option': '4/2',
      'echo-request': '128',
      'echo-reply': '129',
      'router-solicitation': '133',
      'router-advertisement': '134',
      'neighbour-solicitation': '135',
      'neighbour-advertisement': '136',
      'redirect': '137',
    },
    aliases: {
      ping: 'echo-request',
      pong: 'echo-reply',
      'ttl-exceeded': 'time-exceeded',
      'neighbor-solicitation': 'neighbour-solicitation',
      'neighbor-advertisement': 'neighbour-advertisement',
    },
  },
};

/** Lower-cased accepted name → canonical name; iptables matches names case-insensitively. */
const LOOKUP: Record<IcmpProto, ReadonlyMap<string, string>> = {
  icmp: lookupOf('icmp'),
  icmpv6: lookupOf('icmpv6'),
};

function lookupOf(proto: IcmpProto): ReadonlyMap<string, string> {
  const { canonical, aliases } = NAMES[proto];
  return new Map([...Object.keys(canonical).map((n) => [n.toLowerCase(), n] as const), ...Object.entries(aliases)]);
}

const TYPE_MAX = 255;

/**
 * The canonical name or number text (`8`, or `3/4` for a type and code) of an ICMP(v6) type,
 * or undefined when iptables would not take it.
 */
export function icmpType(proto: IcmpProto, text: string): IcmpType | undefined {
  const numeric = /^(\d{1,3})(?:\/(\d{1,3}))?$/.exec(text);
  if (numeric) {
    const [type, code] = [Number(numeric[1]), numeric[2] === undefined ? undefined : Number(numeric[2])];
    if (type > TYPE_MAX || (code !== undefined && code > TYPE_MAX)) return undefined;
    return code === undefined ? String(type) : `${type}/${code}`;
  }
  return LOOKUP[proto].get(text.toLowerCase());
}

/** Every name icmpType accepts for proto (lower case, aliases included), for suggestions. */
export function icmpTypeNames(proto: IcmpProto): readonly string[] {
  return [...LOOKUP[proto].keys()];
}


/**
 * The type as iptables-save prints it (`8`, `3/3`): the compiler writes this form so that
 * what it compiles reads exactly like what the kernel holds.
 */
export function icmpCode(proto: IcmpProto, type: IcmpType): string {
  return NAMES[proto].canonical[type] ?? type;
}

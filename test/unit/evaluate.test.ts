import { describe, expect, it } from 'vitest';
import { HookError, unwrap } from '../../src/errors.js';
import { addressValue } from '../../src/rules/cover.js';
import { type Flow, decide } from '../../src/rules/evaluate.js';
import type { RuleSet } from '../../src/rules/model.js';
import { parseRuleSet } from '../../src/rules/parse.js';

const rules = (...values: string[]): RuleSet =>
  unwrap(parseRuleSet(values.map((value, i) => ({ value, at: { file: 'g.cfg', line: i + 1, col: 1 } }))));

/** An SSH connection to the guest from outside; each test changes what it is about. */
const tcp4 = (change: Partial<Flow> = {}): Flow => ({
  direction: 'in',
  family: 4,
  proto: 'tcp',
  source: '198.51.100.7',
  destination: '192.0.2.10',
  dport: 22,
  ...change,
});
const tcp6 = (change: Partial<Flow> = {}): Flow =>
  tcp4({ family: 6, source: '2001:db8:ff::7', destination: '2001:db8::10', ...change });
const ping4 = (change: Partial<Flow> = {}): Flow => tcp4({ proto: 'icmp', dport: undefined, icmpType: 8, ...change });
const ping6 = (change: Partial<Flow> = {}): Flow =>
  tcp6({ proto: 'icmpv6', dport: undefined, icmpType: 128, ...change });

describe('decide: policy and order', () => {
  it('falls through to the default policies: in drop, out accept', () => {
    const none = rules();
    expect(decide(none, tcp4())).toBe('drop');
    expect(decide(none, tcp4({ direction: 'out' }))).toBe('allow');
  });

  it('falls through to the policy written, accept meaning allow', () => {
    const set = rules('policy in accept', 'policy out reject', 'allow out udp 53');
    expect(decide(set, tcp4())).toBe('allow');
    expect(decide(set, tcp4({ direction: 'out' }))).toBe('reject');
    expect(decide(set, tcp4({ direction: 'out', proto: 'udp', dport: 53 }))).toBe('allow');
    expect(decide(rules('policy out drop'), tcp4({ direction: 'out' }))).toBe('drop');
  });

  it('lets the first matching rule decide', () => {
    const set = rules('reject in tcp 22 from 198.51.100.0/24', 'allow in ssh', 'drop in tcp');
    expect(decide(set, tcp4())).toBe('reject');
    expect(decide(set, tcp4({ source: '203.0.113.1' }))).toBe('allow');
    expect(decide(set, tcp4({ source: '203.0.113.1', dport: 80 }))).toBe('drop');
    expect(decide(rules('allow in', 'drop in tcp 22'), tcp4())).toBe('allow');
  });

  it('applies rules to their own direction only', () => {
    const set = rules('drop out tcp 22', 'allow in tcp 22');
    expect(decide(set, tcp4())).toBe('allow');
    expect(decide(set, tcp4({ direction: 'out' }))).toBe('drop');
    expect(decide(rules('allow out'), tcp4())).toBe('drop');
  });
});

describe('decide: protocols and ports', () => {
  it('matches every protocol with any or no protocol', () => {
    for (const set of [rules('allow in'), rules('allow in any')]) {
      expect(decide(set, tcp4())).toBe('allow');
      expect(decide(set, tcp4({ proto: 'other', dport: undefined }))).toBe('allow');
      expect(decide(set, ping6())).toBe('allow');
    }
  });

  it('matches tcp and udp by protocol, any port when none is given', () => {
    const set = rules('allow in udp');
    expect(decide(set, tcp4({ proto: 'udp', dport: 65535 }))).toBe('allow');
    expect(decide(set, tcp4({ proto: 'udp', dport: undefined }))).toBe('allow');
    expect(decide(set, tcp4())).toBe('drop');
    expect(decide(set, tcp4({ proto: 'other', dport: undefined }))).toBe('drop');
  });

  it('matches a port range inclusively, and nothing just outside it', () => {
    const set = rules('allow in udp 60000-61000');
    const udp = (dport: number) => decide(set, tcp4({ proto: 'udp', dport }));
    expect([udp(59999), udp(60000), udp(60500), udp(61000), udp(61001)]).toEqual([
      'drop',
      'allow',
      'allow',
      'allow',
      'drop',
    ]);
  });

  it('matches any port of a list', () => {
    const set = rules('allow in tcp 80,443,8000-8080');
    for (const dport of [80, 443, 8000, 8080]) expect(decide(set, tcp4({ dport }))).toBe('allow');
    for (const dport of [81, 442, 7999, 8081]) expect(decide(set, tcp4({ dport }))).toBe('drop');
    expect(decide(rules('allow in tcp 1-65535'), tcp4({ dport: 1 }))).toBe('allow');
  });

  it('matches a flow of unknown port only by a rule taking every port', () => {
    expect(decide(rules('allow in tcp 22'), tcp4({ dport: undefined }))).toBe('drop');
    expect(decide(rules('allow in tcp 1-65534'), tcp4({ dport: undefined }))).toBe('drop');
    expect(decide(rules('allow in tcp 1-65535'), tcp4({ dport: undefined }))).toBe('allow');
    expect(decide(rules('allow in tcp'), tcp4({ dport: undefined }))).toBe('allow');
  });

  it('matches both protocols of a service', () => {
    const set = rules('allow in dns');
    expect(decide(set, tcp4({ dport: 53 }))).toBe('allow');
    expect(decide(set, tcp6({ proto: 'udp', dport: 53 }))).toBe('allow');
    expect(decide(set, tcp4({ proto: 'udp', dport: 54 }))).toBe('drop');
  });
});

describe('decide: ICMP', () => {
  it('matches icmp in IPv4 only and icmpv6 in IPv6 only', () => {
    expect(decide(rules('allow in icmp'), ping4())).toBe('allow');
    expect(decide(rules('allow in icmp'), ping6())).toBe('drop');
    expect(decide(rules('allow in icmpv6'), ping6())).toBe('allow');
    expect(decide(rules('allow in icmpv6'), ping4())).toBe('drop');
    // Mislabelled flows: the protocol of the other family exists in neither table.
    expect(decide(rules('allow in icmp'), ping6({ proto: 'icmp' }))).toBe('drop');
    expect(decide(rules('allow in icmpv6'), ping4({ proto: 'icmpv6' }))).toBe('drop');
  });

  it('matches a type given by name, alias or number', () => {
    for (const type of ['echo-request', 'ping', 'PING', '8']) {
      expect(decide(rules(`allow in icmp ${type}`), ping4())).toBe('allow');
      expect(decide(rules(`allow in icmp ${type}`), ping4({ icmpType: 0 }))).toBe('drop');
    }
    for (const type of ['echo-request', '128']) expect(decide(rules(`allow in icmpv6 ${type}`), ping6())).toBe('allow');
    expect(decide(rules('allow in icmpv6 neighbor-solicitation'), ping6({ icmpType: 135 }))).toBe('allow');
    expect(decide(rules('allow in icmp echo-reply'), ping4({ icmpType: 0 }))).toBe('allow');
  });

  it('takes the family\'s numbering: echo-request is 8 in ICMP, 128 in ICMPv6', () => {
    expect(decide(rules('allow in icmpv6 echo-request'), ping6({ icmpType: 8 }))).toBe('drop');
    expect(decide(rules('allow in ping'), ping4())).toBe('allow');
    expect(decide(rules('allow in ping'), ping6())).toBe('allow');
    expect(decide(rules('allow in ping'), ping6({ icmpType: 8 }))).toBe('drop');
  });

  it('matches a name for one code by its type, as a flow has no code', () => {
    const set = rules('allow in icmp port-unreachable', 'allow in icmpv6 port-unreachable');
    expect(decide(set, ping4({ icmpType: 3 }))).toBe('allow');
    expect(decide(set, ping4({ icmpType: 4 }))).toBe('drop');
    expect(decide(set, ping6({ icmpType: 1 }))).toBe('allow');
  });

  it('matches a flow of unknown type only by a rule without type', () => {
    expect(decide(rules('allow in icmp 8'), ping4({ icmpType: undefined }))).toBe('drop');
    expect(decide(rules('allow in icmp'), ping4({ icmpType: undefined }))).toBe('allow');
  });

  it('does not match tcp or udp rules', () => {
    expect(decide(rules('allow in tcp', 'allow in udp'), ping4())).toBe('drop');
  });
});

describe('decide: IPv4 addresses', () => {
  const set = rules('allow in from 198.51.100.0/24 to 192.0.2.10');

  it('matches a source inside the network, edges included', () => {
    for (const source of ['198.51.100.0', '198.51.100.7', '198.51.100.255'])
      expect(decide(set, tcp4({ source }))).toBe('allow');
    for (const source of ['198.51.99.255', '198.51.101.0', '0.0.0.0', '255.255.255.255'])
      expect(decide(set, tcp4({ source }))).toBe('drop');
  });

  it('matches the destination against "to", a bare address being a /32', () => {
    expect(decide(set, tcp4({ destination: '192.0.2.11' }))).toBe('drop');
    expect(decide(set, tcp4({ destination: '192.0.2.9' }))).toBe('drop');
    // From and to are not interchangeable.
    expect(decide(set, tcp4({ source: '192.0.2.10', destination: '198.51.100.7' }))).toBe('drop');
  });

  it('matches every address with /0 and any of a list', () => {
    expect(decide(rules('allow in from 0.0.0.0/0'), tcp4({ source: '255.255.255.255' }))).toBe('allow');
    const list = rules('allow in from 203.0.113.7, 198.51.100.128/25');
    expect(decide(list, tcp4({ source: '203.0.113.7' }))).toBe('allow');
    expect(decide(list, tcp4({ source: '198.51.100.128' }))).toBe('allow');
    expect(decide(list, tcp4({ source: '198.51.100.127' }))).toBe('drop');
  });
});

describe('decide: IPv6 addresses', () => {
  it('matches every address with ::/0', () => {
    const set = rules('allow in from ::/0');
    for (const source of ['::', '::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8::7'])
      expect(decide(set, tcp6({ source }))).toBe('allow');
  });

  it('matches a /64, edges included', () => {
    const set = rules('allow in from 2001:db8:1::/64');
    for (const source of ['2001:db8:1::', '2001:db8:1::1', '2001:db8:1:0:ffff:ffff:ffff:ffff'])
      expect(decide(set, tcp6({ source }))).toBe('allow');
    for (const source of ['2001:db8:1:1::', '2001:db8:0:ffff:ffff:ffff:ffff:ffff', '2001:db8::1'])
      expect(decide(set, tcp6({ source }))).toBe('drop');
  });

  it('matches a /128 in every text form of the address', () => {
    const set = rules('allow in from 2001:DB8:0:0::1');
    for (const source of ['2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:DB8::0:1', '2001:db8:0:0:0:0:0:1'])
      expect(decide(set, tcp6({ source }))).toBe('allow');
    for (const source of ['2001:db8::', '2001:db8::2', '2001:db8::1:0', '2001:db8:1::1'])
      expect(decide(set, tcp6({ source }))).toBe('drop');
  });

  it('reads a dotted IPv4 tail, and keeps an IPv4-mapped packet in IPv6', () => {
    expect(decide(rules('allow in from 64:ff9b::/96'), tcp6({ source: '64:ff9b::192.0.2.1' }))).toBe('allow');
    expect(decide(rules('allow in from 64:ff9b::c000:201'), tcp6({ source: '64:ff9b::192.0.2.1' }))).toBe('allow');
    expect(decide(rules('allow in from ::/0'), tcp6({ source: '::ffff:192.0.2.1' }))).toBe('allow');
    expect(decide(rules('allow in from 192.0.2.1'), tcp6({ source: '::ffff:192.0.2.1' }))).toBe('drop');
  });

  it('uses only the networks of the flow\'s family', () => {
    const v4only = rules('allow in from 0.0.0.0/0');
    expect(decide(v4only, tcp6())).toBe('drop');
    const v6only = rules('allow in to ::/0');
    expect(decide(v6only, tcp4())).toBe('drop');
    const mixed = rules('allow in ssh from 198.51.100.0/24, 2001:db8:ff::/48');
    expect(decide(mixed, tcp4())).toBe('allow');
    expect(decide(mixed, tcp6())).toBe('allow');
    expect(decide(mixed, tcp6({ source: '2001:db8:fe::7' }))).toBe('drop');
    // An empty list is any address of either family.
    expect(decide(rules('allow in from 198.51.100.7'), tcp6())).toBe('drop');
    expect(decide(rules('allow in from 198.51.100.7'), tcp4({ destination: '203.0.113.1' }))).toBe('allow');
  });
});

describe('decide: malformed flows', () => {
  it('refuses an address that is not of the flow\'s family', () => {
    const set = rules('allow in');
    expect(() => decide(set, tcp4({ source: '2001:db8::1' }))).toThrow(HookError);
    expect(() => decide(set, tcp6({ destination: '192.0.2.1' }))).toThrow('"192.0.2.1" is not an IPv6 address');
    for (const source of ['', 'george', '192.0.2.256', '2001:db8::1::2', 'fe80::1%eth0', '2001:db8::/32'])
      expect(() => decide(set, tcp6({ source }))).toThrow(HookError);
  });
});

describe('addressValue', () => {
  it('numbers IPv4 and IPv6 addresses in every text form', () => {
    expect(addressValue('0.0.0.0', 4)).toBe(0n);
    expect(addressValue('255.255.255.255', 4)).toBe(0xffffffffn);
    expect(addressValue('192.0.2.1', 4)).toBe(0xc0000201n);
    expect(addressValue('::', 6)).toBe(0n);
    expect(addressValue('::1', 6)).toBe(1n);
    expect(addressValue('1::', 6)).toBe(1n << 112n);
    expect(addressValue('2001:db8::ff00:42:8329', 6)).toBe(0x20010db8000000000000ff0000428329n);
    expect(addressValue('2001:0db8:0000:0000:0000:ff00:0042:8329', 6)).toBe(0x20010db8000000000000ff0000428329n);
    expect(addressValue('1:2:3:4:5:6:7:8', 6)).toBe(0x00010002000300040005000600070008n);
    expect(addressValue('1:2:3:4:5:6:192.0.2.1', 6)).toBe(0x000100020003000400050006c0000201n);
    expect(addressValue('::ffff:192.0.2.1', 6)).toBe(0xffffc0000201n);
    expect(addressValue('::192.0.2.1', 6)).toBe(0xc0000201n);
  });

  it('refuses text that is not an address of the family', () => {
    for (const text of ['192.0.2.1', '::', '1:2:3:4:5:6:7:8:9', ':::', 'fe80::1%eth0'])
      expect(addressValue(text, text === '192.0.2.1' ? 6 : 4)).toBeUndefined();
    expect(addressValue('010.0.0.1', 4)).toBeUndefined();
    expect(addressValue('fe80::1%eth0', 6)).toBeUndefined();
  });
});

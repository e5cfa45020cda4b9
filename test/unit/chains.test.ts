import { describe, expect, it } from 'vitest';
import { compileVifChains, logPrefix } from '../../src/compile/chains.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { DEFAULT_POLICY, type Cidr, type Match, type Port, type PortRange, type Rule, type RuleSet } from '../../src/rules/model.js';

const at = { file: 'g.cfg', line: 1, col: 1 };
const ctx = { dev: unwrap(parseIfName('vif2.0')), domain: 'george' };
const range = (from: number, to = from): PortRange => ({ from: from as Port, to: to as Port });
const v4 = (address: string, prefix = 32): Cidr => ({ family: 4, address, prefix });
const v6 = (address: string, prefix = 128): Cidr => ({ family: 6, address, prefix });
const rule = (r: Partial<Rule> & Pick<Rule, 'matches'>): Rule => ({
  action: 'allow',
  direction: 'in',
  from: [],
  to: [],
  text: '',
  at,
  ...r,
});
const set = (rules: Rule[], extra: Partial<RuleSet> = {}): RuleSet => ({
  rules,
  policy: DEFAULT_POLICY,
  log: { in: false, out: false },
  ...extra,
});
const tcp = (...ports: PortRange[]): Match => ({ proto: 'tcp', ports });

const V4_IN_HEAD = [
  '-m conntrack --ctstate INVALID -j DROP',
  '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
  '-p udp -m udp --sport 67 --dport 68 -j RETURN',
];

describe('compileVifChains', () => {
  it('compiles the default rule set: state, DHCP, policy drop in, accept out', () => {
    const b = compileVifChains(set([]), 4, ctx);
    expect(b.in).toEqual([...V4_IN_HEAD, '-j DROP']);
    expect(b.out).toEqual([
      '-m conntrack --ctstate INVALID -j DROP',
      '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-p udp -m udp --sport 68 --dport 67 -j RETURN',
      '-j RETURN',
    ]);
  });

  it('lets IPv6 neighbour discovery, router advertisements, MLD queries and DHCPv6 replies in whatever the policy', () => {
    expect(compileVifChains(set([]), 6, ctx).in).toEqual([
      '-m conntrack --ctstate INVALID -j DROP',
      '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 135 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 136 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 134 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 130 -j RETURN',
      '-p udp -m udp --sport 547 --dport 546 -j RETURN',
      '-j DROP',
    ]);
  });

  it('lets IPv6 neighbour discovery, router solicitations, MLD and DHCPv6 requests out whatever the policy', () => {
    const drop = { ...set([]), policy: { in: 'drop', out: 'drop' } } as const;
    expect(compileVifChains(drop, 6, ctx).out).toEqual([
      '-m conntrack --ctstate INVALID -j DROP',
      '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 135 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 136 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 133 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 130 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 131 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 132 -j RETURN',
      '-p ipv6-icmp -m icmp6 --icmpv6-type 143 -j RETURN',
      '-p udp -m udp --sport 546 --dport 547 -j RETURN',
      '-j DROP',
    ]);
  });

  it('uses --dport for one port or range and multiport for lists', () => {
    const b = compileVifChains(set([rule({ matches: [tcp(range(22))] }), rule({ matches: [{ proto: 'udp', ports: [range(60000, 61000)] }] }), rule({ matches: [tcp(range(80), range(443), range(8000, 8080))] })]), 4, ctx);
    expect(b.in.slice(3, 6)).toEqual([
      '-p tcp -m tcp --dport 22 -j RETURN',
      '-p udp -m udp --dport 60000:61000 -j RETURN',
      '-p tcp -m multiport --dports 80,443,8000:8080 -j RETURN',
    ]);
  });

  it('splits port lists over 15 multiport slots (a range takes two)', () => {
    const ports = Array.from({ length: 8 }, (_, i) => range(1000 + i * 10, 1000 + i * 10 + 5));
    const lines = compileVifChains(set([rule({ matches: [tcp(...ports)] })]), 4, ctx).in.filter((l) => l.startsWith('-p tcp'));
    expect(lines).toEqual([
      '-p tcp -m multiport --dports 1000:1005,1010:1015,1020:1025,1030:1035,1040:1045,1050:1055,1060:1065 -j RETURN',
      '-p tcp -m tcp --dport 1070:1075 -j RETURN',
    ]);
  });

  it('sends each family only its addresses, and skips a family the rule names no address of', () => {
    const r = rule({ matches: [tcp(range(443))], from: [v4('198.51.100.0', 24), v6('2001:db8::', 32)] });
    const only4 = rule({ matches: [tcp(range(22))], from: [v4('203.0.113.7')] });
    expect(compileVifChains(set([r, only4]), 4, ctx).in.slice(3, -1)).toEqual([
      '-s 198.51.100.0/24 -p tcp -m tcp --dport 443 -j RETURN',
      '-s 203.0.113.7/32 -p tcp -m tcp --dport 22 -j RETURN',
    ]);
    expect(compileVifChains(set([r, only4]), 6, ctx).in.filter((l) => l.includes('--dport 443') || l.includes('--dport 22'))).toEqual([
      '-s 2001:db8::/32 -p tcp -m tcp --dport 443 -j RETURN',
    ]);
  });

  it('writes every source × destination pair', () => {
    const r = rule({ direction: 'out', action: 'drop', matches: [{ proto: 'any' }], from: [v4('192.0.2.10'), v4('192.0.2.11')], to: [v4('10.0.0.0', 8)] });
    expect(compileVifChains(set([r]), 4, ctx).out.filter((l) => l.startsWith('-s'))).toEqual([
      '-s 192.0.2.10/32 -d 10.0.0.0/8 -j DROP',
      '-s 192.0.2.11/32 -d 10.0.0.0/8 -j DROP',
    ]);
  });

  it('puts icmp only in IPv4 and icmpv6 only in IPv6', () => {
    const ping = rule({ matches: [{ proto: 'icmp', type: 'echo-request' }, { proto: 'icmpv6', type: 'echo-request' }] });
    expect(compileVifChains(set([ping]), 4, ctx).in).toContain('-p icmp -m icmp --icmp-type 8 -j RETURN');
    expect(compileVifChains(set([ping]), 4, ctx).in.join('\n')).not.toContain('ipv6-icmp');
    expect(compileVifChains(set([ping]), 6, ctx).in).toContain('-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j RETURN');
    expect(compileVifChains(set([ping]), 6, ctx).in.join('\n')).not.toContain('-p icmp ');
  });

  it('rejects tcp with a reset and the rest with port-unreachable of the family', () => {
    const r = rule({ action: 'reject', matches: [tcp(range(25)), { proto: 'udp', ports: [range(53)] }] });
    expect(compileVifChains(set([r]), 6, ctx).in).toEqual(
      expect.arrayContaining(['-p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset', '-p udp -m udp --dport 53 -j REJECT --reject-with icmp6-port-unreachable']),
    );
  });

  it('logs before the policy in its own rate-limited rule, and rejects by policy', () => {
    const b = compileVifChains(set([], { policy: { in: 'reject', out: 'accept' }, log: { in: true, out: false } }), 4, ctx);
    expect(b.in.slice(-3)).toEqual([
      '-m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "vfw in vif2.0 george "',
      '-p tcp -j REJECT --reject-with tcp-reset',
      '-j REJECT --reject-with icmp-port-unreachable',
    ]);
  });

  it('keeps rules in the order written (first match wins)', () => {
    const b = compileVifChains(set([rule({ action: 'drop', matches: [tcp(range(22))], from: [v4('192.0.2.66')] }), rule({ matches: [tcp(range(22))] })]), 4, ctx);
    expect(b.in.indexOf('-s 192.0.2.66/32 -p tcp -m tcp --dport 22 -j DROP')).toBeLessThan(b.in.indexOf('-p tcp -m tcp --dport 22 -j RETURN'));
  });
});

describe('logPrefix', () => {
  it('fits the kernel limit of 29 characters and keeps the device whole', () => {
    const p = logPrefix('out', { dev: unwrap(parseIfName('a-very-long-nam')), domain: 'web "frontend" number 1' });
    expect(p.length).toBeLessThanOrEqual(29);
    expect(p).toMatch(/^vfw out a-very-long-nam web_ $/);
  });
});

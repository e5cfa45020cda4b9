import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/command.js';
import { parsePacket, protocolNames, simulate, verdictText } from '../../src/cli/simulate.js';
import { compileVifChains } from '../../src/compile/chains.js';
import type { AntispoofSpec } from '../../src/compile/antispoof.js';
import { verdictOf } from '../../src/compile/verdict.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { antispoofSpec } from '../../src/read/antispoof.js';
import { parseSettings } from '../../src/read/settings.js';
import { parseIfName } from '../../src/ifname.js';
import { unwrap } from '../../src/errors.js';
import { interpretChain } from '../support/chainInterpreter.js';
import { packet, random, ruleLines, ruleSetOf } from '../support/generate.js';

const PROTOCOLS = protocolNames('gre\t47\tGRE\t# General Routing Encapsulation\nvrrp 112 VRRP\n');
const packetOf = (line: string) => parsePacket(line.split(' '), PROTOCOLS);
const OFF: AntispoofSpec = antispoofSpec('off', '00:16:3e:00:00:02', undefined, 'test');
const GUEST = { 4: '192.0.2.10', 6: '2001:db8::a' } as const;

describe('simulate agrees with the compiled chains', () => {
  it('on every packet of generated rule sets', () => {
    const rnd = random(12);
    const seen = new Map<string, number>();
    let packets = 0;
    for (let set = 0; set < 40; set++) {
      const ruleSet = ruleSetOf(ruleLines(rnd, 1 + Math.floor(rnd() * 8)));
      const chains = { 4: compileVifChains(ruleSet, 4, { dev: unwrap(parseIfName('vif2.0')), domain: 'g' }), 6: compileVifChains(ruleSet, 6, { dev: unwrap(parseIfName('vif2.0')), domain: 'g' }) };
      for (let n = 0; n < 10; n++) {
        const p = packet(rnd, GUEST);
        const v = verdictOf(ruleSet, OFF, p);
        const kernel = interpretChain(chains[p.family][p.direction], p);
        expect(v.action, JSON.stringify({ packet: p, rules: ruleSet.rules.map((r) => r.text), policy: ruleSet.policy })).toBe(kernel);
        seen.set(`${v.by} ${v.action}`, (seen.get(`${v.by} ${v.action}`) ?? 0) + 1);
        packets++;
      }
    }
    expect(packets).toBe(400);
    // The generator reaches every kind of verdict, so agreement means something.
    expect([...seen.keys()].sort()).toEqual(['built-in allow', 'policy accept', 'policy drop', 'policy reject', 'rule allow', 'rule drop', 'rule reject'].map((k) => k.replace('policy accept', 'policy allow')).sort());
  });
});

describe('simulate: verdicts', () => {
  const settings = parseSettings('group_web = [ "allow in tcp 80", "allow in tcp 443" ]\nfirewall_default = [ "allow in tcp 22 from 198.51.100.0/24" ]\n', '/etc/xen/vif-firewall.conf');
  const guest = guestRulesOf(
    'vif = [ "mac=00:16:3e:00:00:02,ip=192.0.2.10 2001:db8::a" ]\nfirewall = [\n  "use web",\n  "reject in tcp 25",\n]\n',
    '/etc/xen/web.cfg',
    0,
    settings,
  );
  const full = antispoofSpec('full', guest.mac, guest.ip, 'test');
  const say = (line: string) => simulate(guest.ruleSet, full, packetOf(line)).map((r) => `IPv${r.family}: ${verdictText(r.verdict)}`);

  it('names the deciding rule with its origin, the policy, built-in traffic and anti-spoofing', () => {
    expect(say('in tcp 443')).toEqual([
      'IPv4: allow by web.cfg:3 via group web (vif-firewall.conf:1): "allow in tcp 443"',
      'IPv6: allow by web.cfg:3 via group web (vif-firewall.conf:1): "allow in tcp 443"',
    ]);
    expect(say('in tcp 22 from 198.51.100.7')).toEqual(['IPv4: allow by vif-firewall.conf:2 (firewall_default): "allow in tcp 22 from 198.51.100.0/24"']);
    expect(say('in tcp 22 from 192.0.2.1')).toEqual(['IPv4: drop by the policy (no rule matches)']);
    expect(say('in tcp 25 from 2001:db8::1')).toEqual(['IPv6: reject by web.cfg:4: "reject in tcp 25"']);
    expect(say('in udp 68 sport 67')).toEqual(['IPv4: passes: built-in (a DHCP reply to the guest as a client)', 'IPv6: drop by the policy (no rule matches)']);
    expect(say('in icmpv6 neighbour-solicitation')).toEqual(['IPv6: passes: built-in (IPv6 neighbour discovery)']);
    expect(say('out tcp 80 from 192.0.2.99')).toEqual(["IPv4: drop by anti-spoofing: source 192.0.2.99 is not the guest's (ip= of the vif: 192.0.2.10/32)"]);
    expect(say('out tcp 80 from 192.0.2.10')).toEqual(['IPv4: allow by the policy (no rule matches)']);
    expect(say('out udp 68 sport 67')[0]).toBe('IPv4: drop by anti-spoofing: the guest may not act as a DHCP server unless an "allow out" rule names the service');
    expect(say('in gre')).toEqual(['IPv4: drop by the policy (no rule matches)', 'IPv6: drop by the policy (no rule matches)']);
  });

  it('takes an address not given as one no rule names', () => {
    const rules = ruleSetOf(['allow in tcp 80 to 192.0.2.10', 'allow in tcp 81 from 0.0.0.0/0']);
    const v = (line: string) => simulate(rules, OFF, packetOf(line)).map((r) => r.verdict.action);
    expect(v('in tcp 80')).toEqual(['drop', 'drop']);
    expect(v('in tcp 80 to 192.0.2.10')).toEqual(['allow']);
    expect(v('in tcp 81')).toEqual(['allow', 'drop']);
  });
});

describe('simulate: the packet on the command line', () => {
  it('reads direction, protocol, port or type, addresses and source port', () => {
    expect(packetOf('in tcp 80 from 192.0.2.1 sport 1234').flows).toEqual([
      { direction: 'in', family: 4, proto: 'tcp', dport: 80, source: '192.0.2.1', sport: 1234 },
    ]);
    expect(packetOf('out icmpv6 echo-request').flows).toEqual([{ direction: 'out', family: 6, proto: 'icmpv6', icmpType: 128 }]);
    expect(packetOf('in icmp 3').flows).toEqual([{ direction: 'in', family: 4, proto: 'icmp', icmpType: 3 }]);
    expect(packetOf('in GRE').flows.map((f) => [f.family, f.proto])).toEqual([[4, 'other'], [6, 'other']]);
    expect(packetOf('in 6 22').flows.map((f) => f.proto)).toEqual(['tcp', 'tcp']);
  });

  it.each([
    ['sideways tcp', 'expected in or out, then the packet, got "sideways"'],
    ['in', 'expected a protocol after "in"'],
    ['in tpc 80', 'unknown protocol "tpc"'],
    ['in tcp 0', 'port 0 out of range 1-65535'],
    ['in icmp bogus', 'unknown icmp type "bogus"'],
    ['in gre 80', 'only tcp and udp take a port'],
    ['in tcp 80 from 192.0.2.1 to 2001:db8::1', 'different families'],
    ['in icmp from 2001:db8::1', 'icmp has no IPv6 packets: use icmpv6'],
    ['in tcp 80 from', 'expected a value after "from"'],
    ['in tcp 80 from nowhere', '"nowhere" is not an IP address'],
    ['in icmp sport 5', 'only tcp and udp packets have a source port'],
  ])('refuses %s', (line, message) => {
    expect(() => packetOf(line)).toThrow(UsageError);
    expect(() => packetOf(line)).toThrow(message);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConntrackList } from '../../src/apply/conntrack.js';
import { compileVifChains, ruleLogPrefix } from '../../src/compile/chains.js';
import { flowsToCut } from '../../src/compile/cut.js';
import { parseCidr } from '../../src/rules/address.js';
import { parseInstalled } from '../../src/compile/installed.js';
import { refreshScript, setsUsed } from '../../src/compile/ipsets.js';
import { installTransaction } from '../../src/compile/transaction.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { analyseRuleSet, unusedSets } from '../../src/lint/analyse.js';
import { antispoofSpec } from '../../src/read/antispoof.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { parseSettings } from '../../src/read/settings.js';
import { type Flow, decide } from '../../src/rules/evaluate.js';
import type { Rule, RuleSet } from '../../src/rules/model.js';
import { parseRuleSet } from '../../src/rules/parse.js';
import { parseProtocolTable, protocolMatch } from '../../src/rules/protocols.js';

const settingsFile = 'test/fixtures/lang/vif-firewall.conf';
const settings = parseSettings(readFileSync(settingsFile, 'utf8'), settingsFile);
const env = { sets: settings.sets };
const dev = unwrap(parseIfName('vif3.0'));

const FILE = 'g.cfg';
const QUOTE_COL = 10;
const parse = (...values: string[]) =>
  parseRuleSet(values.map((value, i) => ({ value, at: { file: FILE, line: i + 1, col: QUOTE_COL } })), env);
const rules = (...values: string[]): RuleSet => unwrap(parse(...values));
const ruleOf = (value: string): Rule => rules(value).rules[0]!;
/** The compiled spec lines of one rule in one family (without the chain's fixed head and tail). */
const compiled = (value: string, family: 4 | 6): readonly string[] => {
  const bodies = compileVifChains(rules(value), family, { dev, domain: 'g' });
  const base = compileVifChains(rules(), family, { dev, domain: 'g' });
  const dir = ruleOf(value).direction;
  return bodies[dir].filter((l) => !base[dir].includes(l));
};

describe('every.cfg → restore text (every new form, both families)', () => {
  const file = 'test/fixtures/lang/every.cfg';
  const guest = guestRulesOf(readFileSync(file, 'utf8'), file, 0, settings);
  const empty = parseInstalled('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  for (const family of [4, 6] as const) {
    it(`IPv${family}`, async () => {
      const addresses = antispoofSpec('full', guest.mac, guest.ip, 'every.cfg vif 0').ip ?? [];
      const path = { dev, bridge: guest.bridge ?? 'xenbr0', addresses };
      const text = installTransaction(empty, path, family, compileVifChains(guest.ruleSet, family, { dev, domain: 'every' }), { acceptAllowed: true });
      await expect(text).toMatchFileSnapshot(`../golden/every.v${family}.restore`);
    });
  }

  it('loads the sets it uses, each family in its own hash:net, in one batch', async () => {
    await expect(refreshScript(setsUsed(guest.ruleSet))).toMatchFileSnapshot('../golden/every.ipset');
  });

  it('passes the linter without a false warning, and every set is used', () => {
    expect(analyseRuleSet(guest.ruleSet)).toEqual([]);
    expect(unusedSets(settings.sets, [guest.ruleSet])).toEqual([]);
  });
});

describe('compiled forms', () => {
  it.each<[string, 4 | 6, string[]]>([
    ['allow in proto 112', 4, ['-p vrrp -j RETURN']],
    ['allow in proto 253', 6, ['-p 253 -j RETURN']],
    ['allow in ah', 4, ['-p ah -j RETURN']],
    ['allow in ah', 6, ['-m ah -j RETURN']],
    ['allow in proto 6 22', 4, ['-p tcp -m tcp --dport 22 -j RETURN']],
    ['allow in sctp 9', 6, ['-p sctp -m sctp --dport 9 -j RETURN']],
    ['allow in udp sport 53', 4, ['-p udp -m udp --sport 53 -j RETURN']],
    ['allow in tcp 80,443 sport 1024-65535', 4, ['-p tcp -m tcp --sport 1024:65535 -m multiport --dports 80,443 -j RETURN']],
    ['allow in from !10.0.0.0/8', 4, ['! -s 10.0.0.0/8 -j RETURN']],
    // Not 10.0.0.0/8 is every IPv6 source.
    ['allow in from !10.0.0.0/8', 6, ['-j RETURN']],
    ['drop out to !@internal', 6, ['-m set ! --match-set vfw6-internal dst -j DROP']],
    ['allow in tcp 22 from @admins, 192.0.2.5', 4, ['-s 192.0.2.5/32 -p tcp -m tcp --dport 22 -j RETURN', '-p tcp -m tcp --dport 22 -m set --match-set vfw4-admins src -j RETURN']],
    // A set has both halves, so IPv6 members added later match at once.
    ['allow in tcp 22 from @v4only', 6, ['-p tcp -m tcp --dport 22 -m set --match-set vfw6-v4only src -j RETURN']],
    ['allow in icmp 3/4', 4, ['-p icmp -m icmp --icmp-type 3/4 -j RETURN']],
    ['allow in icmpv6 1/4', 6, ['-p ipv6-icmp -m icmp6 --icmpv6-type 1/4 -j RETURN']],
    ['allow in tcp 80 limit 50/second burst 100', 4, ['-p tcp -m tcp --dport 80 -m limit --limit 50/sec --limit-burst 100 -j RETURN']],
    ['allow in limit 3/hour burst 5', 4, ['-m limit --limit 3/hour -j RETURN']],
    ['reject in tcp 25 with icmp-admin-prohibited', 6, ['-p tcp -m tcp --dport 25 -j REJECT --reject-with icmp6-adm-prohibited']],
    ['reject in udp 25 with icmp-net-unreachable', 6, ['-p udp -m udp --dport 25 -j REJECT --reject-with icmp6-no-route']],
    ['reject in tcp 25 with tcp-reset', 4, ['-p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset']],
    [
      'drop in tcp 23 limit 1/second log',
      4,
      [
        '-p tcp -m tcp --dport 23 -m limit --limit 1/sec -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "vfw g.cfg:1 "',
        '-p tcp -m tcp --dport 23 -m limit --limit 1/sec -j DROP',
      ],
    ],
  ])('%s (IPv%s)', (value, family, lines) => {
    expect(compiled(value, family)).toEqual(lines);
  });

  it('keeps the line number of a log prefix whole, in the 29 characters the kernel keeps', () => {
    const rule = { ...ruleOf('drop in log'), at: { file: '/etc/xen/a-very-long-domain-config-name.cfg', line: 1234, col: 3 } };
    expect(ruleLogPrefix(rule)).toBe('vfw ain-config-name.cfg:1234 ');
    expect(ruleLogPrefix(rule)).toHaveLength(29);
  });
});

describe('parse errors of the new forms, positioned', () => {
  const colOf = (value: string, needle: string) => QUOTE_COL + 1 + value.indexOf(needle);
  it.each<[string, string, string]>([
    ['allow in tcp 22 from @admin', 'unknown set "@admin" (sets are defined in vif-firewall.conf as set_NAME = [ "192.0.2.0/24", … ]) (did you mean admins?)', '@admin'],
    ['allow in from 192.0.2.1, @nobody', 'unknown set "@nobody" (sets are defined in vif-firewall.conf as set_NAME = [ "192.0.2.0/24", … ])', '@nobody'],
    ['allow in from !10.0.0.0/8, !192.168.0.0/16', '"!" excludes one address or set; to exclude several, put them in a set (set_NAME in vif-firewall.conf) and write from !@NAME', '!192'],
    ['allow in from 10.0.0.0/8, !@internal', '"!" excludes one address or set; to exclude several, put them in a set (set_NAME in vif-firewall.conf) and write from !@NAME', '!@'],
    ['allow in proto 300', 'protocol 300 out of range 1-255', '300'],
    ['allow in proto 0', 'protocol 0 is not a protocol a rule can match: for every protocol write "any"', '0'],
    ['allow in proto ipv6-frag', 'protocol ipv6-frag is the IPv6 fragment header, which a firewall rule cannot match', 'ipv6-frag'],
    ['allow in proto foo', 'unknown protocol "foo" (not a number 1-255 nor a name in /etc/protocols)', 'foo'],
    ['allow in esp 500', 'ports need tcp, udp or sctp, not esp', '500'],
    ['allow in ssh sport 22', 'source ports need tcp, udp or sctp before them, not ssh', 'sport'],
    ['allow in udp sport 53,54', 'one source port or range per rule (write a rule for each)', '54'],
    ['allow in tcp 80 limit 50', 'expected a rate such as 50/second (per second, minute, hour or day) after "limit", got "50"', '50'],
    ['allow in tcp 80 limit 50/fortnight', 'expected a rate such as 50/second (per second, minute, hour or day) after "limit", got "50/fortnight"', '50/'],
    ['allow in tcp 80 limit 20000/second', 'rate 20000 out of range 1-10000', '20000'],
    ['allow in tcp 80 limit 5/second burst lots', 'expected a number of packets 1-10000 after "burst"', 'lots'],
    ['allow in tcp 25 with icmp-admin-prohibited', '"with" chooses the answer of a reject rule; this rule is allow', 'with'],
    ['reject in udp 25 with tcp-reset', 'tcp-reset answers only tcp: write "reject … tcp …" or choose an icmp answer', 'with'],
    ['reject in tcp 25 with icmp-admin-prohibitted', 'expected tcp-reset, icmp-port-unreachable, icmp-host-unreachable, icmp-net-unreachable or icmp-admin-prohibited after "reject in tcp 25 with", got "icmp-admin-prohibitted" (did you mean icmp-admin-prohibited?)', 'icmp-admin-prohibitted'],
    ['allow in tcp 22 log log', '"log" given twice', 'log log'],
    ['allow in icmp 3/256', 'ICMP type 3/256 out of range 0-255', '3/256'],
  ])('%s', (value, message, token) => {
    const r = parse(value);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const col = token === 'log log' ? colOf(value, token) + 4 : colOf(value, token);
    expect({ message: r.error.message, at: r.error.where }).toEqual({ message, at: { file: FILE, line: 1, col } });
  });

  it('accepts sctp without suggesting anything else, and `!` apart from its address', () => {
    expect(ruleOf('allow in sctp').matches).toEqual([{ proto: 'sctp' }]);
    expect(ruleOf('allow in from ! 10.0.0.0/8')).toMatchObject({ from: [{ address: '10.0.0.0', prefix: 8 }], fromNegated: true });
  });

  it('reads protocols from a table like /etc/protocols, names and aliases', () => {
    const table = parseProtocolTable('# c\nvrrp 112 VRRP  # Virtual Router\nesp 50 IPSEC-ESP\nbogus x\n');
    expect(unwrap(protocolMatch('VRRP', table))).toEqual({ proto: 'other', number: 112 });
    expect(unwrap(protocolMatch('ipsec-esp', table))).toEqual({ proto: 'other', number: 50 });
    expect(unwrap(protocolMatch('132', table))).toEqual({ proto: 'sctp' });
    expect(protocolMatch('bogus', table).ok).toBe(false);
  });
});

describe('sets in vif-firewall.conf', () => {
  it('reads each set with its members and where it is defined', () => {
    expect([...settings.sets.keys()]).toEqual(['admins', 'internal', 'v4only']);
    expect(settings.sets.get('admins')!.members.map((c) => `${c.address}/${c.prefix}`)).toEqual(['198.51.100.0/24', '2001:db8:1::/48', '203.0.113.7/32']);
    expect(settings.sets.get('admins')!.at).toEqual({ file: settingsFile, line: 2, col: 1 });
  });

  it('names file, line and column of a bad member', () => {
    expect(() => parseSettings('set_x = [ "10.0.0.1/8" ]\n', 'v.conf')).toThrow(/host bits set in 10\.0\.0\.1\/8.*\(in set x\)/);
    try {
      parseSettings('\nset_x = [ "192.0.2.0/24", "nope" ]\n', 'v.conf');
    } catch (e) {
      expect((e as { describe(): string }).describe()).toBe('v.conf:2:27: "nope" is not an IPv4 or IPv6 address (in set x)');
    }
  });

  it('refuses a name ipset could not hold', () => {
    expect(() => parseSettings(`set_${'a'.repeat(26)} = []\n`, 'v.conf')).toThrow(/1-25 lower-case letters/);
  });

  it('warns about a set no config checked uses, at its definition', () => {
    const used = rules('allow in from @admins', 'drop out to !@internal');
    expect(unusedSets(settings.sets, [used])).toEqual([
      { severity: 'warning', at: { file: settingsFile, line: 4, col: 1 }, message: 'set v4only is used by none of the configs checked (no rule names @v4only)' },
    ]);
  });
});

describe('decide with the new matches', () => {
  const flow = (change: Partial<Flow>): Flow => ({ direction: 'in', family: 4, proto: 'tcp', source: '198.51.100.7', destination: '192.0.2.10', dport: 22, ...change });

  it('judges sets by their members, in both families', () => {
    const set = rules('allow in tcp 22 from @admins');
    expect(decide(set, flow({}))).toBe('allow');
    expect(decide(set, flow({ source: '192.0.2.99' }))).toBe('drop');
    expect(decide(set, flow({ family: 6, source: '2001:db8:1::5', destination: '2001:db8::10' }))).toBe('allow');
    expect(decide(set, flow({ family: 6, source: '2001:db8:2::5', destination: '2001:db8::10' }))).toBe('drop');
  });

  it('judges negations, including an address of the other family', () => {
    const set = rules('allow in tcp 22 from !10.0.0.0/8', 'drop out to !@internal');
    expect(decide(set, flow({ source: '10.1.2.3' }))).toBe('drop');
    expect(decide(set, flow({}))).toBe('allow');
    expect(decide(set, flow({ family: 6, source: '2001:db8::7', destination: '2001:db8::10' }))).toBe('allow');
    expect(decide(set, flow({ direction: 'out', destination: '10.9.9.9' }))).toBe('allow');
    expect(decide(set, flow({ direction: 'out', destination: '192.0.2.99' }))).toBe('drop');
  });

  it('judges protocols by number, sctp and source ports', () => {
    const set = rules('allow in gre', 'allow in proto 112', 'allow in sctp 3868', 'allow in udp sport 53');
    expect(decide(set, flow({ proto: 'other', protocol: 47, dport: undefined }))).toBe('allow');
    expect(decide(set, flow({ proto: 'other', protocol: 112, dport: undefined }))).toBe('allow');
    expect(decide(set, flow({ proto: 'other', protocol: 50, dport: undefined }))).toBe('drop');
    expect(decide(set, flow({ proto: 'sctp', dport: 3868 }))).toBe('allow');
    expect(decide(set, flow({ proto: 'udp', dport: 9999, sport: 53 }))).toBe('allow');
    expect(decide(set, flow({ proto: 'udp', dport: 9999, sport: 54 }))).toBe('drop');
  });

  it('judges ICMP codes when the flow has one', () => {
    const set = rules('allow in icmp 3/4');
    expect(decide(set, flow({ proto: 'icmp', dport: undefined, icmpType: 3, icmpCode: 4 }))).toBe('allow');
    expect(decide(set, flow({ proto: 'icmp', dport: undefined, icmpType: 3, icmpCode: 3 }))).toBe('drop');
  });

  it('takes a limited rule for the first packets, and log changes nothing', () => {
    expect(decide(rules('allow in tcp 22 limit 1/minute log'), flow({}))).toBe('allow');
    expect(decide(rules('reject in tcp 22 with icmp-admin-prohibited'), flow({}))).toBe('reject');
  });
});

describe('reload keeps the flows of protocols by number', () => {
  const flows = parseConntrackList(
    `gre      47 179 src=192.0.2.1 dst=192.0.2.10 srckey=0x0 dstkey=0x0 src=192.0.2.10 dst=192.0.2.1 srckey=0x0 dstkey=0x0 [ASSURED] mark=0 use=1
sctp     132 3 ESTABLISHED src=192.0.2.1 dst=192.0.2.10 sport=5000 dport=3868 src=192.0.2.10 dst=192.0.2.1 sport=3868 dport=5000 [ASSURED] mark=0 use=1
`,
    4,
  );
  const guest = [unwrap(parseCidr('192.0.2.10'))];

  it('keeps what the rules allow and cuts the rest', () => {
    expect(flowsToCut(rules('allow in gre', 'allow in sctp 3868'), guest, flows)).toEqual([]);
    expect(flowsToCut(rules('allow in esp', 'allow in sctp 3869'), guest, flows).map((f) => f.proto)).toEqual(['gre', 'sctp']);
  });
});

describe('linter with the new forms', () => {
  it('never calls a rule shadowed by a limited, negated or set rule', () => {
    expect(analyseRuleSet(rules('allow in tcp 22 limit 5/second', 'drop in tcp 22'))).toEqual([]);
    expect(analyseRuleSet(rules('allow in tcp 22 from @admins', 'drop in tcp 22 from 198.51.100.1'))).toEqual([]);
    expect(analyseRuleSet(rules('allow in tcp 22 from !10.0.0.0/8', 'drop in tcp 22'))).toEqual([]);
  });

  it('still sees a set rule shadowed by a plain one', () => {
    const findings = analyseRuleSet(rules('allow in tcp 22', 'drop in tcp 22 from @admins', 'allow in gre', 'allow in proto 47'));
    expect(findings.map((f) => f.at.line)).toEqual([2, 4]);
  });
});

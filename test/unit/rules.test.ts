import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Result, errorsOf, unwrap } from '../../src/errors.js';
import { icmpType, icmpTypeNames } from '../../src/rules/icmp.js';
import { DEFAULT_POLICY, type Match, type Port, type PortRange, type Rule, type RuleSet } from '../../src/rules/model.js';
import { parseRuleSet } from '../../src/rules/parse.js';
import { parsePort, parsePortList, parsePortRange } from '../../src/rules/port.js';
import { SERVICES } from '../../src/rules/services.js';

const FILE = 'george.cfg';
/** Every string's opening quote sits at column 10 of its own line, so a token at offset k is at column 11 + k. */
const QUOTE_COL = 10;
const lines = (values: string[]) => values.map((value, i) => ({ value, at: { file: FILE, line: i + 1, col: QUOTE_COL } }));
const parse = (...values: string[]): RuleSet => unwrap(parseRuleSet(lines(values)));
const ruleOf = (value: string): Rule => parse(value).rules[0]!;
const matchesOf = (value: string): readonly Match[] => ruleOf(value).matches;

/** The error of the last string, its message and column (its line is checked where it matters). */
function errorOf(...values: string[]): { message: string; col: number; line: number } {
  const r = parseRuleSet(lines(values));
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(values)}`);
  expect(r.error.where?.file).toBe(FILE);
  return { message: r.error.message, col: r.error.where!.col, line: r.error.where!.line };
}
/** Column of the first occurrence of needle in the rule text. */
const colOf = (value: string, needle: string) => QUOTE_COL + 1 + value.indexOf(needle);
/** Column just after the rule text, where a missing token belongs. */
const endOf = (value: string) => QUOTE_COL + 1 + value.trimEnd().length;

const range = (from: number, to = from): PortRange => ({ from: from as Port, to: to as Port });
const errorMessage = <T>(r: Result<T>) => (r.ok ? undefined : r.error.message);

describe('parseRuleSet: rules', () => {
  it('parses a rule with action, direction, protocol and port', () => {
    const r = parse('allow in tcp 22');
    expect(r).toEqual({
      rules: [
        {
          action: 'allow',
          direction: 'in',
          matches: [{ proto: 'tcp', ports: [range(22)] }],
          from: [],
          to: [],
          text: 'allow in tcp 22',
          at: { file: FILE, line: 1, col: 11 },
        },
      ],
      policy: DEFAULT_POLICY,
      log: { in: false, out: false },
    });
  });

  it('keeps the text trimmed and points at the first token', () => {
    const r = ruleOf('   drop out udp 53  ');
    expect(r.text).toBe('drop out udp 53');
    expect(r.at).toEqual({ file: FILE, line: 1, col: 14 });
  });

  it('parses every action and direction', () => {
    for (const action of ['allow', 'drop', 'reject'] as const)
      for (const direction of ['in', 'out'] as const) {
        const r = ruleOf(`${action} ${direction}`);
        expect([r.action, r.direction]).toEqual([action, direction]);
      }
  });

  it('reads keywords, protocols and services case-insensitively', () => {
    const r = ruleOf('ALLOW In TCP 22 FROM 192.0.2.1');
    expect([r.action, r.direction, r.matches]).toEqual(['allow', 'in', [{ proto: 'tcp', ports: [range(22)] }]]);
    expect(r.from).toEqual([{ family: 4, address: '192.0.2.1', prefix: 32 }]);
    expect(matchesOf('allow in SSH')).toEqual(SERVICES.get('ssh'));
    expect(matchesOf('allow in Icmp Echo-Request')).toEqual([{ proto: 'icmp', type: 'echo-request' }]);
  });

  it('keeps rules in order, whatever their direction', () => {
    const r = parse('allow in tcp 22', 'drop out tcp 25', 'reject in udp');
    expect(r.rules.map((x) => x.text)).toEqual(['allow in tcp 22', 'drop out tcp 25', 'reject in udp']);
    expect(r.rules.map((x) => x.at.line)).toEqual([1, 2, 3]);
  });

  it('parses an empty list as the defaults', () => {
    expect(parse()).toEqual({ rules: [], policy: { in: 'drop', out: 'accept' }, log: { in: false, out: false } });
  });

  it('parses the example guest config', () => {
    const r = parse(
      'allow in tcp 22',
      'allow in tcp 80,443 from 198.51.100.0/24, 2001:db8::/32',
      'allow in udp 60000-61000',
      'allow in icmp echo-request',
      'allow in ssh from 203.0.113.7',
      'drop out tcp 25',
      'log in',
    );
    expect(r.rules).toHaveLength(6);
    expect(r.rules[1]!.from).toEqual([
      { family: 4, address: '198.51.100.0', prefix: 24 },
      { family: 6, address: '2001:db8::', prefix: 32 },
    ]);
    expect(r.log).toEqual({ in: true, out: false });
  });
});

describe('parseRuleSet: protocols', () => {
  it('defaults to any protocol', () => {
    expect(matchesOf('allow in')).toEqual([{ proto: 'any' }]);
    expect(matchesOf('allow in from 192.0.2.1')).toEqual([{ proto: 'any' }]);
    expect(matchesOf('allow in to 192.0.2.1')).toEqual([{ proto: 'any' }]);
    expect(matchesOf('allow in any')).toEqual([{ proto: 'any' }]);
    expect(matchesOf('allow in any from 192.0.2.1')).toEqual([{ proto: 'any' }]);
  });

  it('parses tcp and udp with and without ports', () => {
    expect(matchesOf('allow in tcp')).toEqual([{ proto: 'tcp' }]);
    expect(matchesOf('allow in udp')).toEqual([{ proto: 'udp' }]);
    expect(matchesOf('allow in udp 60000-61000')).toEqual([{ proto: 'udp', ports: [range(60000, 61000)] }]);
    expect(matchesOf('allow in tcp to 192.0.2.1')).toEqual([{ proto: 'tcp' }]);
  });

  it('joins a port list across spaces next to commas', () => {
    const want = [{ proto: 'tcp', ports: [range(80), range(443), range(8000, 8080)] }];
    for (const text of ['80,443,8000-8080', '80, 443, 8000-8080', '80 ,443 ,8000-8080', '80 , 443 , 8000-8080'])
      expect(matchesOf(`allow in tcp ${text} from 192.0.2.1`)).toEqual(want);
  });

  it('keeps ports as written, including the edges 1 and 65535', () => {
    expect(matchesOf('allow in tcp 65535,1,1-65535')).toEqual([
      { proto: 'tcp', ports: [range(65535), range(1), range(1, 65535)] },
    ]);
    expect(matchesOf('allow in tcp 22-22')).toEqual([{ proto: 'tcp', ports: [range(22)] }]);
  });

  it('parses icmp and icmpv6 with and without a type', () => {
    expect(matchesOf('allow in icmp')).toEqual([{ proto: 'icmp' }]);
    expect(matchesOf('allow in icmpv6')).toEqual([{ proto: 'icmpv6' }]);
    expect(matchesOf('allow in ipv6-icmp')).toEqual([{ proto: 'icmpv6' }]);
    expect(matchesOf('allow in icmp time-exceeded')).toEqual([{ proto: 'icmp', type: 'time-exceeded' }]);
    expect(matchesOf('allow in ipv6-icmp packet-too-big')).toEqual([{ proto: 'icmpv6', type: 'packet-too-big' }]);
    expect(matchesOf('allow in icmp 8 from 192.0.2.1')).toEqual([{ proto: 'icmp', type: '8' }]);
  });

  it('stores ICMP aliases under the name iptables prints', () => {
    expect(matchesOf('allow in icmp ping')).toEqual([{ proto: 'icmp', type: 'echo-request' }]);
    expect(matchesOf('allow in icmpv6 neighbor-solicitation')).toEqual([
      { proto: 'icmpv6', type: 'neighbour-solicitation' },
    ]);
    expect(matchesOf('allow in icmp tos-host-redirect')).toEqual([{ proto: 'icmp', type: 'TOS-host-redirect' }]);
  });
});

describe('parseRuleSet: services', () => {
  it('expands a service to its matches', () => {
    expect(matchesOf('allow in ssh')).toEqual([{ proto: 'tcp', ports: [range(22)] }]);
    expect(matchesOf('allow in dns')).toEqual([
      { proto: 'tcp', ports: [range(53)] },
      { proto: 'udp', ports: [range(53)] },
    ]);
    expect(matchesOf('allow in ping')).toEqual([
      { proto: 'icmp', type: 'echo-request' },
      { proto: 'icmpv6', type: 'echo-request' },
    ]);
  });

  it('takes from and to after a service', () => {
    const r = ruleOf('allow out https to 192.0.2.0/24 from 198.51.100.7');
    expect(r.matches).toEqual([{ proto: 'tcp', ports: [range(443)] }]);
    expect(r.to).toEqual([{ family: 4, address: '192.0.2.0', prefix: 24 }]);
    expect(r.from).toEqual([{ family: 4, address: '198.51.100.7', prefix: 32 }]);
  });

  it('has every service the documentation promises, on its well-known port', () => {
    const want: Record<string, string> = {
      ssh: 'tcp 22', ftp: 'tcp 21', smtp: 'tcp 25', submission: 'tcp 587', smtps: 'tcp 465',
      dns: 'tcp 53, udp 53', http: 'tcp 80', https: 'tcp 443', 'http-alt': 'tcp 8080',
      pop3: 'tcp 110', pop3s: 'tcp 995', imap: 'tcp 143', imaps: 'tcp 993', ntp: 'udp 123',
      snmp: 'udp 161', syslog: 'udp 514', ldap: 'tcp 389', ldaps: 'tcp 636', mysql: 'tcp 3306',
      postgresql: 'tcp 5432', rdp: 'tcp 3389', vnc: 'tcp 5900',
      ping: 'icmp echo-request, icmpv6 echo-request',
      'dhcp-server': 'udp from 67 to 68', 'dhcpv6-server': 'udp from 547 to 546', router: 'icmpv6 router-advertisement',
    };
    expect(Object.fromEntries([...SERVICES].map(([name, matches]) => [name, describeMatches(matches)]))).toEqual(want);
  });
});

/** A service's matches the way README.md writes them. */
function describeMatches(matches: readonly Match[]): string {
  return matches
    .map((m) => {
      switch (m.proto) {
        case 'tcp':
        case 'udp':
          return `${m.proto} ${m.sport ? `from ${m.sport.from} to ` : ''}${(m.ports ?? []).map((p) => (p.from === p.to ? p.from : `${p.from}-${p.to}`)).join(',')}`;
        case 'icmp':
        case 'icmpv6':
          return `${m.proto} ${m.type}`;
        case 'any':
          return 'any';
      }
    })
    .join(', ');
}

describe('parseRuleSet: addresses', () => {
  it('takes from and to in either order', () => {
    const a = ruleOf('allow in from 192.0.2.1 to 198.51.100.0/24');
    const b = ruleOf('allow in to 198.51.100.0/24 from 192.0.2.1');
    expect([a.from, a.to]).toEqual([b.from, b.to]);
    expect(a.from).toEqual([{ family: 4, address: '192.0.2.1', prefix: 32 }]);
    expect(a.to).toEqual([{ family: 4, address: '198.51.100.0', prefix: 24 }]);
  });

  it('canonicalises addresses and keeps mixed families in one list', () => {
    expect(ruleOf('allow in from 2001:DB8:0:0::1 , 192.0.2.0/24,2001:db8::/32').from).toEqual([
      { family: 6, address: '2001:db8::1', prefix: 128 },
      { family: 4, address: '192.0.2.0', prefix: 24 },
      { family: 6, address: '2001:db8::', prefix: 32 },
    ]);
  });

  it('accepts rules whose families meet somewhere', () => {
    expect(ruleOf('allow in icmp from 192.0.2.1, 2001:db8::1').matches).toEqual([{ proto: 'icmp' }]);
    expect(ruleOf('allow in icmpv6 to 192.0.2.1, 2001:db8::1').matches).toEqual([{ proto: 'icmpv6' }]);
    expect(ruleOf('allow in ping from 2001:db8::1').from).toHaveLength(1);
    expect(ruleOf('allow in ping from 192.0.2.1').from).toHaveLength(1);
    expect(ruleOf('allow in from 192.0.2.1, 2001:db8::1 to 2001:db8::2').to).toHaveLength(1);
    expect(ruleOf('allow in icmp from 192.0.2.1 to 198.51.100.0/24, 2001:db8::/32').to).toHaveLength(2);
    expect(ruleOf('allow in icmpv6 from 0.0.0.0/0, ::/0').from).toHaveLength(2);
  });
});

describe('parseRuleSet: policy and log', () => {
  it('sets the policy of each direction', () => {
    expect(parse('policy in accept').policy).toEqual({ in: 'accept', out: 'accept' });
    expect(parse('policy out drop').policy).toEqual({ in: 'drop', out: 'drop' });
    expect(parse('Policy OUT Reject', 'policy in reject').policy).toEqual({ in: 'reject', out: 'reject' });
  });

  it('turns logging on per direction', () => {
    expect(parse('log in').log).toEqual({ in: true, out: false });
    expect(parse('log out', 'LOG IN').log).toEqual({ in: true, out: true });
  });

  it('does not count policy and log as rules', () => {
    expect(parse('policy in drop', 'log in', 'allow in ssh', 'policy out reject').rules).toHaveLength(1);
  });

  it('refuses a policy or log set twice, naming the line of the first', () => {
    expect(errorOf('policy in drop', 'allow in ssh', '  policy in accept')).toEqual({
      message: 'policy in is already set on line 1 ("policy in drop"); keep one',
      col: 13,
      line: 3,
    });
    expect(errorOf('policy out accept', 'policy out accept')).toMatchObject({
      message: 'policy out is already set on line 1 ("policy out accept"); keep one',
      line: 2,
    });
    expect(errorOf('log out', 'log in', 'log out')).toEqual({
      message: 'log out is already set on line 1 ("log out"); keep one',
      col: 11,
      line: 3,
    });
  });
});

describe('parseRuleSet: errors', () => {
  /** [rule, message, the token the error points at (undefined = the end of the rule)] */
  const cases: [string, string, string | undefined][] = [
    // statement
    ['allow in tcp 22 70000', 'unexpected "70000": expected from, to, sport, limit, with, log or the end of the rule (list entries are separated by commas)', '70000'],
    ['alow in tcp 22', 'expected allow, drop, reject, policy or log at the start of a rule, got "alow" (did you mean allow?)', 'alow'],
    ['accept in tcp 22', 'expected allow, drop, reject, policy or log at the start of a rule, got "accept"', 'accept'],
    ['allow tcp 22', 'expected in or out after "allow", got "tcp"', 'tcp'],
    ['allow', 'expected in or out after "allow"', undefined],
    ['drop ni', 'expected in or out after "drop", got "ni" (did you mean in?)', 'ni'],
    // protocol or service
    ['allow in sshh', 'unknown service "sshh" (did you mean ssh?)', 'sshh'],
    ['allow in tpc 22', 'unknown protocol "tpc" (did you mean tcp?)', 'tpc'],
    ['allow in icmp6', 'unknown protocol "icmp6" (did you mean icmp or icmpv6?)', 'icmp6'],
    ['allow in form 192.0.2.1', 'unknown word "form" (did you mean from?)', 'form'],
    ['allow in gopher', 'unknown protocol or service "gopher": expected tcp, udp, sctp, icmp, icmpv6, any, a protocol of /etc/protocols (esp, gre, …), proto NUMBER or a service such as ssh', 'gopher'],
    ['allow in 192.0.2.1', '"192.0.2.1" is an address: write "from 192.0.2.1" or "to 192.0.2.1"', '192.0.2.1'],
    ['allow in http,https', 'one protocol or service per rule: write a rule for each of http and https', 'http'],
    ['allow in dns, ntp,tcp', 'one protocol or service per rule: write a rule for each of dns, ntp and tcp', 'dns'],
    ['allow in 22', 'ports need a protocol: write "tcp 22", "udp 22" or "sctp 22"', '22'],
    ['allow in 80, 443', 'ports need a protocol: write "tcp 80,443", "udp 80,443" or "sctp 80,443"', '80'],
    ['allow in 192.0.2.1 ,2001:db8::1', '"192.0.2.1,2001:db8::1" are addresses: write "from 192.0.2.1,2001:db8::1" or "to 192.0.2.1,2001:db8::1"', '192'],
    // ports
    ['allow in any 22', 'ports need tcp, udp or sctp, not any', '22'],
    ['allow in any 80,443', 'ports need tcp, udp or sctp, not any', '80,443'],
    ['allow in any echo-request', 'ICMP types need icmp or icmpv6, not any', 'echo-request'],
    ['allow in any foo', 'unexpected "foo": expected from, to, sport, limit, with, log or the end of the rule', 'foo'],
    ['allow in tcp 0', 'port 0 out of range 1-65535', '0'],
    ['allow in tcp 65536', 'port 65536 out of range 1-65535', '65536'],
    ['allow in udp 80, 70000', 'port 70000 out of range 1-65535', '70000'],
    ['allow in tcp 5-3', 'port range 5-3 is backwards, did you mean 3-5?', '5-3'],
    ['allow in tcp 80,1-0', 'port 0 out of range 1-65535', '1-0'],
    ['allow in tcp 6000:6010', '"6000:6010" is not a port range: write it as 8000-8080', '6000'],
    ['allow in tcp 22-x', '"22-x" is not a port range: write it as 8000-8080', '22-x'],
    ['allow in tcp 80, Http', '"Http" is a service, not a port: write it on its own, without "tcp"', 'Http'],
    ['allow in UDP ntp', '"ntp" is a service, not a port: write it on its own, without "UDP"', 'ntp'],
    ['allow in tcp foo', '"foo" is not a port: expected a number 1-65535', 'foo'],
    ['allow in tcp 80,,443', 'missing port', ',443'],
    ['allow in tcp ,80', 'missing port', ','],
    ['allow in tcp 80,', 'missing port', undefined],
    ['allow in tcp 80, from 192.0.2.1', 'missing port', ' from'],
    ['allow in ssh 2222', 'service ssh already names its ports; write tcp 2222 instead', '2222'],
    ['allow in dns 5353, 5354', 'service dns already names its ports; write tcp 5353,5354 or udp 5353,5354 instead', '5353'],
    ['allow in ping 8', 'service ping takes no ports', '8'],
    // icmp types
    ['allow in icmp 256', 'ICMP type 256 out of range 0-255', '256'],
    ['allow in icmpv6 1000', 'ICMPv6 type 1000 out of range 0-255', '1000'],
    ['allow in icmp 80,443', 'ports need tcp, udp or sctp, not icmp', '80'],
    ['allow in icmp packet-too-big', '"packet-too-big" is an ICMPv6 type, not ICMP: write "icmpv6 packet-too-big"', 'packet'],
    ['allow in icmpv6 source-quench', '"source-quench" is an ICMP type, not ICMPv6: write "icmp source-quench"', 'source'],
    ['allow in icmp echo-requets', 'unknown ICMP type "echo-requets" (did you mean echo-request?)', 'echo'],
    ['allow in icmpv6 neigbour-solicitation', 'unknown ICMPv6 type "neigbour-solicitation" (did you mean neighbour-solicitation?)', 'neig'],
    ['allow in icmp any', 'unknown ICMP type "any"', 'any'],
    ['allow in icmp echo-request echo-reply', 'unexpected "echo-reply": expected from, to, sport, limit, with, log or the end of the rule', 'echo-reply'],
    // addresses
    ['allow in from', 'expected an address, network or @set after "from"', undefined],
    ['allow in tcp 22 from to 192.0.2.1', 'expected an address, network or @set after "from"', 'to'],
    ['allow in to 192.0.2.1,', 'missing address', undefined],
    ['allow in from 192.0.2.1 from 198.51.100.1', '"from" given twice; put all its addresses in one list: from a, b', 'from 198'],
    ['allow in to 192.0.2.1 from 198.51.100.1 to 192.0.2.2', '"to" given twice; put all its addresses in one list: to a, b', 'to 192.0.2.2'],
    ['allow in from 192.0.2.1/24', 'host bits set in 192.0.2.1/24, did you mean 192.0.2.0/24?', '192'],
    ['allow in from 192.0.2.1, 2001:db8::/129', 'prefix /129 out of range 0-128 for IPv6', '2001'],
    ['allow in from example.org', '"example.org" is not an IPv4 or IPv6 address', 'example'],
    ['allow in from 192.0.2.1 192.0.2.2', 'unexpected "192.0.2.2": expected from, to, sport, limit, with, log or the end of the rule (list entries are separated by commas)', '192.0.2.2'],
    ['allow in tcp 22 fro 192.0.2.1', 'unknown word "fro" (did you mean from?)', 'fro'],
    ['allow in ssh 192.0.2.1', 'unexpected "192.0.2.1": expected from, to, sport, limit, with, log or the end of the rule', '192'],
    // families
    ['allow in icmp from 2001:db8::1', 'icmp is IPv4 only, but this rule names only IPv6 addresses; use icmpv6', 'icmp'],
    ['allow in icmp echo-request to 2001:db8::/32', 'icmp is IPv4 only, but this rule names only IPv6 addresses; use icmpv6', 'icmp'],
    ['allow out icmpv6 to 192.0.2.0/24', 'icmpv6 is IPv6 only, but this rule names only IPv4 addresses; use icmp', 'icmpv6'],
    ['allow out ipv6-icmp from 192.0.2.1', 'ipv6-icmp is IPv6 only, but this rule names only IPv4 addresses; use icmp', 'ipv6-icmp'],
    ['allow in icmpv6 from 192.0.2.1, 2001:db8::1 to 198.51.100.1', 'icmpv6 is IPv6 only, but this rule names only IPv4 addresses; use icmp', 'icmpv6'],
    ['allow in from 192.0.2.1 to 2001:db8::1', '"from" names only IPv4 addresses and "to" only IPv6 addresses; this rule could never match', 'to'],
    ['allow in tcp to 2001:db8::1 from 192.0.2.0/24', '"from" names only IPv4 addresses and "to" only IPv6 addresses; this rule could never match', 'from'],
    // policy and log
    ['policy', 'expected in or out after "policy"', undefined],
    ['policy up drop', 'expected in or out after "policy", got "up"', 'up'],
    ['policy in', 'expected drop, reject or accept after "policy in"', undefined],
    ['policy in allow', 'expected drop, reject or accept after "policy in", got "allow"', 'allow'],
    ['policy out acept', 'expected drop, reject or accept after "policy out", got "acept" (did you mean accept?)', 'acept'],
    ['policy in drop now', 'unexpected "now" after "policy in drop"', 'now'],
    ['log', 'expected in or out after "log"', undefined],
    ['log out everything', 'unexpected "everything" after "log out"', 'everything'],
  ];

  it.each(cases)('%s', (rule, message, token) => {
    const col = token === undefined ? endOf(rule) : colOf(rule, token);
    expect(errorOf('allow in ssh', rule)).toEqual({ message, col, line: 2 });
  });

  it('refuses an empty rule, pointing inside its quotes', () => {
    expect(errorOf('')).toEqual({ message: 'empty rule', col: 11, line: 1 });
    expect(errorOf('allow in ssh', ' \t ')).toEqual({ message: 'empty rule', col: 11, line: 2 });
  });

  it('reports every rule at fault, in order, and parses the rest', () => {
    const r = parseRuleSet(lines(['allow in tcp 0', 'allow in ssh', 'bogus', 'policy in drop', 'policy in reject']));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(errorsOf(r.error).map((e) => [e.where!.line, e.where!.col, e.message])).toEqual([
      [1, colOf('allow in tcp 0', '0'), 'port 0 out of range 1-65535'],
      [3, colOf('bogus', 'bogus'), 'expected allow, drop, reject, policy or log at the start of a rule, got "bogus"'],
      [5, colOf('policy in reject', 'policy'), 'policy in is already set on line 4 ("policy in drop"); keep one'],
    ]);
  });
});

describe('ports', () => {
  it('parses single ports from 1 to 65535', () => {
    expect(unwrap(parsePort('1'))).toBe(1);
    expect(unwrap(parsePort('65535'))).toBe(65535);
    expect(unwrap(parsePort('022'))).toBe(22);
  });

  it('refuses 0, 65536, an empty text and non-numbers', () => {
    expect(errorMessage(parsePort('0'))).toBe('port 0 out of range 1-65535');
    expect(errorMessage(parsePort('65536'))).toBe('port 65536 out of range 1-65535');
    expect(errorMessage(parsePort('99999999999999999999999'))).toBe('port 99999999999999999999999 out of range 1-65535');
    expect(errorMessage(parsePort(''))).toBe('missing port');
    expect(errorMessage(parsePort('-1'))).toBe('"-1" is not a port: expected a number 1-65535');
    expect(errorMessage(parsePort('2e3'))).toBe('"2e3" is not a port: expected a number 1-65535');
  });

  it('parses ranges, a one-port range included, and refuses backwards ones', () => {
    expect(unwrap(parsePortRange('60000-61000'))).toEqual(range(60000, 61000));
    expect(unwrap(parsePortRange('1-65535'))).toEqual(range(1, 65535));
    expect(unwrap(parsePortRange('7-7'))).toEqual(range(7));
    expect(unwrap(parsePortRange('53'))).toEqual(range(53));
    expect(errorMessage(parsePortRange('5-3'))).toBe('port range 5-3 is backwards, did you mean 3-5?');
    expect(errorMessage(parsePortRange('0-3'))).toBe('port 0 out of range 1-65535');
    expect(errorMessage(parsePortRange('3-65536'))).toBe('port 65536 out of range 1-65535');
    for (const bad of ['80-', '-80', '1-2-3', '1:2', '1--2'])
      expect(errorMessage(parsePortRange(bad))).toBe(`"${bad}" is not a port range: write it as 8000-8080`);
  });

  it('parses lists, with or without spaces', () => {
    expect(unwrap(parsePortList('22'))).toEqual([range(22)]);
    expect(unwrap(parsePortList('80,443,8000-8080'))).toEqual([range(80), range(443), range(8000, 8080)]);
    expect(unwrap(parsePortList('80, 443'))).toEqual([range(80), range(443)]);
    expect(errorMessage(parsePortList('80,,443'))).toBe('missing port');
    expect(errorMessage(parsePortList('80,'))).toBe('missing port');
    expect(errorMessage(parsePortList(''))).toBe('missing port');
    expect(errorMessage(parsePortList('80,5-3'))).toBe('port range 5-3 is backwards, did you mean 3-5?');
  });
});

describe('ICMP types', () => {
  it('knows the iptables names of both families', () => {
    for (const name of ['echo-request', 'echo-reply', 'destination-unreachable', 'time-exceeded', 'parameter-problem', 'redirect'])
      for (const proto of ['icmp', 'icmpv6'] as const) expect(icmpType(proto, name)).toBe(name);
    for (const name of ['source-quench', 'timestamp-request', 'timestamp-reply', 'router-advertisement', 'router-solicitation', 'fragmentation-needed'])
      expect(icmpType('icmp', name)).toBe(name);
    for (const name of ['packet-too-big', 'neighbour-solicitation', 'neighbour-advertisement', 'router-advertisement', 'no-route'])
      expect(icmpType('icmpv6', name)).toBe(name);
    expect(icmpType('icmpv6', 'source-quench')).toBeUndefined();
    expect(icmpType('icmp', 'packet-too-big')).toBeUndefined();
  });

  it('maps aliases to the name iptables prints', () => {
    expect(icmpType('icmp', 'ping')).toBe('echo-request');
    expect(icmpType('icmp', 'pong')).toBe('echo-reply');
    expect(icmpType('icmp', 'ttl-exceeded')).toBe('time-exceeded');
    expect(icmpType('icmpv6', 'neighbor-advertisement')).toBe('neighbour-advertisement');
    expect(icmpType('icmpv6', 'NEIGHBOR-SOLICITATION')).toBe('neighbour-solicitation');
    expect(icmpType('icmp', 'TOS-Network-Unreachable')).toBe('TOS-network-unreachable');
  });

  it('accepts numbers 0 to 255 and no prefix of a name', () => {
    expect(icmpType('icmp', '0')).toBe('0');
    expect(icmpType('icmpv6', '255')).toBe('255');
    expect(icmpType('icmp', '008')).toBe('8');
    expect(icmpType('icmp', '256')).toBeUndefined();
    expect(icmpType('icmp', '-1')).toBeUndefined();
    expect(icmpType('icmp', 'echo')).toBeUndefined();
    expect(icmpType('icmp', 'any')).toBeUndefined();
  });
});

describe('README.md', () => {
  const doc = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('lists every service as the code defines it', () => {
    const section = doc.slice(doc.indexOf('### Services'), doc.indexOf('###', doc.indexOf('### Services') + 1));
    const rows = [...section.matchAll(/^\| `([a-z0-9-]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries([...SERVICES].map(([n, m]) => [n, describeMatches(m)])));
  });

  it('names every ICMP type the parser accepts', () => {
    for (const proto of ['icmp', 'icmpv6'] as const)
      for (const name of icmpTypeNames(proto)) expect(doc.toLowerCase()).toContain(`\`${name}\``);
  });
});

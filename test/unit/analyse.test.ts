import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../src/errors.js';
import { type Finding, analyseRuleSet } from '../../src/lint/analyse.js';
import { parseSettings } from '../../src/read/settings.js';
import { parseGuestRuleSet } from '../../src/rules/groups.js';
import { parseRuleSet } from '../../src/rules/parse.js';

const FILE = 'g.cfg';
/** Each string's opening quote is at column 1, so a rule, positioned at its first word, is at column 2. */
const RULE_COL = 2;
const lineOf = (value: string, i: number) => ({ value, at: { file: FILE, line: i + 1, col: 1 } });
const analyse = (...values: string[]): Finding[] => analyseRuleSet(unwrap(parseRuleSet(values.map(lineOf))));
/** Findings as `line: message`, which is how an admin reads them. */
const lint = (...values: string[]): string[] => analyse(...values).map((f) => `${f.at.line}: ${f.message}`);

describe('analyseRuleSet: duplicates', () => {
  it('reports a rule written twice, at the later one', () => {
    expect(analyse('allow in tcp 22', 'allow in udp 53', 'allow in tcp 22')).toEqual([
      { severity: 'warning', at: { file: FILE, line: 3, col: RULE_COL }, message: 'duplicate of line 1 ("allow in tcp 22")' },
    ]);
  });

  it('reports the same traffic written differently', () => {
    expect(lint('allow in ssh', 'allow in tcp 22')).toEqual(['2: duplicate of line 1 ("allow in ssh")']);
    expect(lint('allow in tcp 80,443', 'allow in tcp 443, 80')).toEqual(['2: duplicate of line 1 ("allow in tcp 80,443")']);
    expect(lint('allow in icmp 8', 'ALLOW IN ICMP PING')).toEqual(['2: duplicate of line 1 ("allow in icmp 8")']);
    expect(lint('allow in icmp 3', 'allow in icmp destination-unreachable')).toEqual([
      '2: duplicate of line 1 ("allow in icmp 3")',
    ]);
    expect(lint('drop out to 192.0.2.1, 2001:db8::/32', 'drop out to 2001:db8:0::/32,192.0.2.1/32')).toEqual([
      '2: duplicate of line 1 ("drop out to 192.0.2.1, 2001:db8::/32")',
    ]);
    expect(lint('allow in tcp', 'allow in tcp 1-65535')).toEqual(['2: duplicate of line 1 ("allow in tcp")']);
    expect(lint('allow in', 'allow in any')).toEqual(['2: duplicate of line 1 ("allow in")']);
  });

  it('names the first of several copies, and reports each later copy once', () => {
    expect(lint('allow in ssh', 'allow in ssh', 'allow in ssh')).toEqual([
      '2: duplicate of line 1 ("allow in ssh")',
      '3: duplicate of line 1 ("allow in ssh")',
    ]);
  });

  it('does not call rules of different actions or directions duplicates', () => {
    expect(lint('allow in tcp 22', 'drop in tcp 22')).toEqual([
      '2: never matches: line 1 ("allow in tcp 22") already decides all of its traffic',
    ]);
    expect(lint('allow in tcp 22', 'allow out tcp 22')).toEqual([]);
  });
});

describe('analyseRuleSet: shadowed rules', () => {
  it('reports every rule after one that matches everything', () => {
    expect(lint('drop in', 'allow in ssh', 'allow in icmpv6 from 2001:db8::1', 'allow out')).toEqual([
      '2: never matches: line 1 ("drop in") already decides all of its traffic',
      '3: never matches: line 1 ("drop in") already decides all of its traffic',
    ]);
  });

  it('compares protocols: any covers all, a protocol only itself', () => {
    expect(lint('drop in tcp', 'allow in tcp 22')).toEqual([
      '2: never matches: line 1 ("drop in tcp") already decides all of its traffic',
    ]);
    expect(lint('drop in any', 'allow in icmp')).toEqual([
      '2: never matches: line 1 ("drop in any") already decides all of its traffic',
    ]);
    expect(lint('drop in tcp', 'allow in udp 22')).toEqual([]);
    expect(lint('drop in tcp', 'allow in')).toEqual([]);
    expect(lint('drop in icmp', 'allow in icmpv6')).toEqual([]);
  });

  it('compares port ranges, edges included', () => {
    const after = (rule: string) => lint('drop in udp 60000-61000', rule);
    const shadowed = ['2: never matches: line 1 ("drop in udp 60000-61000") already decides all of its traffic'];
    expect(after('allow in udp 60000')).toEqual(shadowed);
    expect(after('allow in udp 61000')).toEqual(shadowed);
    expect(after('allow in udp 60000-60001, 60999-61000')).toEqual(shadowed);
    expect(after('allow in udp 59999')).toEqual([]);
    expect(after('allow in udp 61001')).toEqual([]);
    expect(after('allow in udp 59999-60000')).toEqual([]);
    expect(after('allow in udp 60000, 61001')).toEqual([]);
    expect(after('allow in udp')).toEqual([]);
    expect(lint('drop in tcp 22,80', 'allow in tcp 80')).toEqual([
      '2: never matches: line 1 ("drop in tcp 22,80") already decides all of its traffic',
    ]);
  });

  it('compares ICMP types: no type covers all, a type covers its codes', () => {
    const shadowed = (line1: string) => [`2: never matches: line 1 ("${line1}") already decides all of its traffic`];
    expect(lint('drop in icmp', 'allow in icmp ping')).toEqual(shadowed('drop in icmp'));
    expect(lint('drop in icmp destination-unreachable', 'allow in icmp port-unreachable')).toEqual(
      shadowed('drop in icmp destination-unreachable'),
    );
    expect(lint('drop in icmpv6 1', 'allow in icmpv6 port-unreachable')).toEqual(shadowed('drop in icmpv6 1'));
    expect(lint('drop in icmp port-unreachable', 'allow in icmp destination-unreachable')).toEqual([]);
    expect(lint('drop in icmp port-unreachable', 'allow in icmp host-unreachable')).toEqual([]);
    expect(lint('drop in icmp echo-request', 'allow in icmp')).toEqual([]);
    expect(lint('drop in icmp echo-request', 'allow in icmp echo-reply')).toEqual([]);
    // The same name is another number in the other family.
    expect(lint('drop in icmp 128', 'allow in icmpv6 echo-request')).toEqual([]);
  });

  it('compares addresses: a network covers the networks inside it', () => {
    const shadowed = (line1: string) => [`2: never matches: line 1 ("${line1}") already decides all of its traffic`];
    expect(lint('drop in from 198.51.100.0/22', 'allow in ssh from 198.51.103.0/24, 198.51.100.7')).toEqual(
      shadowed('drop in from 198.51.100.0/22'),
    );
    expect(lint('drop in to 2001:db8::/32', 'allow in to 2001:db8:ffff::/48')).toEqual(shadowed('drop in to 2001:db8::/32'));
    expect(lint('drop in from 198.51.100.0/24', 'allow in from 198.51.100.0/23')).toEqual([]);
    expect(lint('drop in from 198.51.100.0/24', 'allow in from 198.51.101.0/24')).toEqual([]);
    expect(lint('drop in from 198.51.100.0/24', 'allow in from 198.51.100.7, 203.0.113.7')).toEqual([]);
    // From and to are not interchangeable.
    expect(lint('drop in from 198.51.100.0/24', 'allow in to 198.51.100.7')).toEqual([]);
  });

  it('covers a rule without addresses only by rules without addresses, or /0 of each family', () => {
    expect(lint('drop in from 198.51.100.0/24', 'allow in tcp')).toEqual([]);
    expect(lint('drop in tcp from 0.0.0.0/0, ::/0', 'allow in tcp')).toEqual([
      '2: never matches: line 1 ("drop in tcp from 0.0.0.0/0, ::/0") already decides all of its traffic',
    ]);
  });

  it('leaves the other family of a later rule to it', () => {
    expect(lint('allow in from 0.0.0.0/0', 'drop in tcp')).toEqual([]);
    expect(lint('allow in to 2001:db8::/32', 'drop in ssh to 2001:db8::1, 192.0.2.1')).toEqual([]);
    expect(lint('allow in from 0.0.0.0/0', 'drop in icmp')).toEqual([
      '2: never matches: line 1 ("allow in from 0.0.0.0/0") already decides all of its traffic',
    ]);
    expect(lint('allow in icmp', 'drop in ping')).toEqual([]);
    expect(lint('allow in icmp', 'drop in ping from 192.0.2.1')).toEqual([
      '2: never matches: line 1 ("allow in icmp") already decides all of its traffic',
    ]);
  });

  it('names every earlier rule that decides a part of the traffic', () => {
    expect(lint('allow in tcp', 'allow in udp', 'drop in dns')).toEqual([
      '3: never matches: lines 1 ("allow in tcp") and 2 ("allow in udp") already decide all of its traffic',
    ]);
    expect(lint('allow in from 0.0.0.0/0', 'allow in tcp 1-100', 'allow in from ::/0', 'drop in')).toEqual([
      '4: never matches: lines 1 ("allow in from 0.0.0.0/0") and 3 ("allow in from ::/0") already decide all of its traffic',
    ]);
    expect(lint('allow in icmp', 'allow in tcp', 'allow in icmpv6', 'reject in ping')).toEqual([
      '4: never matches: lines 1 ("allow in icmp") and 3 ("allow in icmpv6") already decide all of its traffic',
    ]);
  });

  it('names the first earlier rule that covers a part, though others also do', () => {
    expect(lint('drop in tcp', 'drop in tcp 22', 'allow in ssh')).toEqual([
      '2: never matches: line 1 ("drop in tcp") already decides all of its traffic',
      '3: never matches: line 1 ("drop in tcp") already decides all of its traffic',
    ]);
  });

  it('does not report a rule only partly covered', () => {
    expect(lint('allow in tcp', 'drop in dns')).toEqual([]);
    expect(lint('allow in icmp', 'drop in ping')).toEqual([]);
    expect(lint('allow in tcp 22', 'allow in tcp 80', 'allow in tcp 22,80,443')).toEqual([]);
    expect(lint('drop in tcp 1-100', 'drop in tcp 101-200', 'allow in tcp 50-150')).toEqual([]);
  });

  it('reports a duplicate as a duplicate only', () => {
    expect(lint('drop in tcp', 'allow in ssh', 'allow in tcp 22')).toEqual([
      '2: never matches: line 1 ("drop in tcp") already decides all of its traffic',
      '3: duplicate of line 2 ("allow in ssh")',
    ]);
  });
});

describe('analyseRuleSet: addresses of the wrong family', () => {
  it('reports IPv6 addresses of an icmp rule', () => {
    expect(analyse('allow in icmp from 192.0.2.1, 2001:db8::/32')).toEqual([
      {
        severity: 'warning',
        at: { file: FILE, line: 1, col: RULE_COL },
        message: 'icmp only matches IPv4: 2001:db8::/32 is never used',
      },
    ]);
    expect(lint('allow in icmp echo-request from 192.0.2.0/24, 2001:db8::1 to 2001:db8::2, 192.0.2.9')).toEqual([
      '1: icmp only matches IPv4: 2001:db8::1, 2001:db8::2 are never used',
    ]);
  });

  it('reports IPv4 addresses of an icmpv6 rule, whatever its spelling', () => {
    expect(lint('allow out ipv6-icmp to 2001:db8::1, 192.0.2.0/24')).toEqual([
      '1: icmpv6 only matches IPv6: 192.0.2.0/24 is never used',
    ]);
  });

  it('reports addresses a from/to list of one family leaves without a partner', () => {
    expect(lint('allow in from 192.0.2.1, 2001:db8::1 to 198.51.100.0/24')).toEqual([
      '1: "to" names only IPv4 addresses: 2001:db8::1 is never used',
    ]);
    expect(lint('allow in from 2001:db8::1 to 198.51.100.0/24, 2001:db8:1::/64')).toEqual([
      '1: "from" names only IPv6 addresses: 198.51.100.0/24 is never used',
    ]);
  });

  it('accepts addresses of both families where the rule matches both', () => {
    expect(lint('allow in ping from 192.0.2.1, 2001:db8::1')).toEqual([]);
    expect(lint('allow in ssh from 192.0.2.1, 2001:db8::1 to 192.0.2.0/24, 2001:db8:1::/64')).toEqual([]);
    expect(lint('allow in icmp from 192.0.2.1', 'allow in icmpv6 to 2001:db8::1')).toEqual([]);
  });

  it('reports a rule both shadowed and with unused addresses twice, in that order', () => {
    expect(lint('drop in', 'allow in icmp from 192.0.2.1, 2001:db8::1')).toEqual([
      '2: never matches: line 1 ("drop in") already decides all of its traffic',
      '2: icmp only matches IPv4: 2001:db8::1 is never used',
    ]);
  });
});

describe('analyseRuleSet: order', () => {
  it('sorts findings by position, not by rule order', () => {
    const lines = ['drop in', 'allow in ssh', 'allow in icmp from 192.0.2.1, 2001:db8::1'].map((value, i) => ({
      value,
      at: { file: FILE, line: 30 - 10 * i, col: 3 },
    }));
    const findings = analyseRuleSet(unwrap(parseRuleSet(lines)));
    expect(findings.map((f) => `${f.at.line}: ${f.message}`)).toEqual([
      '10: never matches: line 30 ("drop in") already decides all of its traffic',
      '10: icmp only matches IPv4: 2001:db8::1 is never used',
      '20: never matches: line 30 ("drop in") already decides all of its traffic',
    ]);
  });

  it('finds nothing in an empty rule set or one of settings only', () => {
    expect(lint()).toEqual([]);
    expect(lint('policy in accept', 'log in', 'policy out drop', 'log out')).toEqual([]);
  });
});

describe('analyseRuleSet: README.md', () => {
  const doc = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  /** The strings of every `firewall = [ … ]` block in a part of the README. */
  const blocks = (text: string): string[][] =>
    [...text.matchAll(/^firewall = \[\n([\s\S]*?)^\]/gm)].map((m) => [...m[1]!.matchAll(/"([^"]*)"/g)].map((s) => s[1]!));
  const start = doc.indexOf('## Rule reference');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));

  it('finds nothing in the examples of the rule language', () => {
    const examples = blocks(section);
    // The named sets and groups its examples use, as the README's vif-firewall.conf defines them.
    const conf = [...section.matchAll(/^(?:set|group)_\w+ += \[.*\]/gm)].map((m) => m[0]).join('\n');
    const settings = parseSettings(conf, 'vif-firewall.conf');
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const rules of examples) {
      const { ruleSet } = unwrap(parseGuestRuleSet(rules.map(lineOf), settings.shared, false, 'vif-firewall.conf', { sets: settings.sets }));
      expect(analyseRuleSet(ruleSet).map((f) => `${f.at.line}: ${f.message}`), rules.join('\n')).toEqual([]);
    }
  });

  it('finds the SSH rule of the opening example decided by the one before it', () => {
    const [george] = blocks(doc.slice(0, start));
    expect(lint(...george!)).toEqual([
      '5: never matches: line 1 ("allow in tcp 22") already decides all of its traffic',
    ]);
  });
});

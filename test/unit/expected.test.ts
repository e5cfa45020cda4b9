import { describe, expect, it } from 'vitest';
import { bridgeProblems, compareTables, expectedTable, ourPart } from '../../src/compile/expected.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { lintAllowsEverything, lintConfigKeys } from '../../src/lint/config.js';
import { diffLines, ruleWordsDiff } from '../../src/report/diff.js';
import { parseRuleSet } from '../../src/rules/parse.js';
import { parseXlConfig } from '../../src/xlconfig/parse.js';

const dev = (name: string) => unwrap(parseIfName(name));
const bodies = { in: ['-j DROP'], out: ['-j RETURN'] };
const options = { acceptAllowed: true };

describe('expected tables', () => {
  const path = (name: string) => ({ dev: dev(name), bridge: 'xenbr0', addresses: [] });
  const expected = expectedTable([{ path: path('vif2.0'), bodies }, { path: path('vif3.0'), bodies }], 4, options);

  it('are what the compiler writes for each device in turn: jumps, skeleton, dispatch rules, chains', () => {
    expect(expected.get('FORWARD')).toEqual(['-j VIF-FW']);
    expect(expected.get('INPUT')).toEqual(['-j VIF-FW-INPUT']);
    expect(expected.get('VIF-FW')).toEqual(['-j VIF-FW-OUT', '-j VIF-FW-IN', '-j VIF-FW-PASS']);
    expect(expected.get('VIF-FW-IN')).toEqual([
      '-m physdev --physdev-out vif2.0 --physdev-is-bridged -j vif-fw-in-vif2.0',
      '-m physdev --physdev-out vif3.0 --physdev-is-bridged -j vif-fw-in-vif3.0',
    ]);
    expect(expected.get('vif-fw-in-vif3.0')).toEqual(['-j DROP']);
  });

  const saveOf = (edit: (lines: string[]) => string[] = (l) => l) => {
    const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', ':ADMIN - [0:0]', '-A FORWARD -j ADMIN', '-A ADMIN -j ACCEPT'];
    for (const c of expected.keys()) if (!/^[A-Z]+$/.test(c)) lines.push(`:${c} - [0:0]`);
    for (const [c, specs] of expected) for (const s of specs) lines.push(`[3:180] -A ${c} ${s}`);
    return [...edit(lines), 'COMMIT'].join('\n');
  };

  it('match a kernel that holds them, whatever else it holds and in whatever order devices came', () => {
    const swapped = saveOf((l) => {
      const a = l.findIndex((x) => x.includes('-A VIF-FW-IN -m physdev --physdev-out vif2.0'));
      const b = l.findIndex((x) => x.includes('-A VIF-FW-IN -m physdev --physdev-out vif3.0'));
      [l[a], l[b]] = [l[b]!, l[a]!];
      return l;
    });
    expect(compareTables(4, expected, ourPart(swapped))).toEqual([]);
  });

  it('name what is missing, extra or reordered, and whose it is', () => {
    const kernel = ourPart(
      saveOf((l) =>
        l
          .filter((x) => !x.endsWith('-A FORWARD -j VIF-FW') && !x.includes('--physdev-in vif3.0 -j vif-fw-out-vif3.0'))
          .map((x) => (x === '[3:180] -A vif-fw-in-vif2.0 -j DROP' ? '[3:180] -A vif-fw-in-vif2.0 -j ACCEPT' : x))
          .map((x) => (x === '[3:180] -A VIF-FW -j VIF-FW-OUT' ? '[3:180] -A VIF-FW -j VIF-FW-PASS' : x === '[3:180] -A VIF-FW -j VIF-FW-PASS' ? '[3:180] -A VIF-FW -j VIF-FW-OUT' : x)),
      ),
    );
    const diffs = compareTables(4, expected, kernel).map((d) => [d.chain, d.dev, d.missing, d.extra, d.reordered]);
    const out3 = '-m physdev --physdev-in vif3.0 -j vif-fw-out-vif3.0';
    expect(diffs.sort((a, b) => String(a[0]).localeCompare(String(b[0])))).toEqual([
      ['FORWARD', undefined, ['-j VIF-FW'], [], false],
      ['VIF-FW', undefined, [], [], true],
      ['vif-fw-in-vif2.0', 'vif2.0', ['-j DROP'], ['-j ACCEPT'], false],
      ['VIF-FW-INPUT', 'vif3.0', [out3], [], false],
      ['VIF-FW-OUT', 'vif3.0', [out3], [], false],
    ]);
  });

  it('hold the bridge table to each device: base chain, map entry, number of checks', () => {
    const listing = 'table bridge vif-fw {\n\tmap vifs {\n\t\telements = { "vif2.0" : jump vif-fw-vif2.0 }\n\t}\n\tchain prerouting {\n\t\ttype filter hook prerouting priority filter; policy accept;\n\t\tiifname vmap @vifs\n\t}\n\tchain vif-fw-vif2.0 {\n\t\tether saddr != 00:16:3e:00:02:00 drop\n\t}\n}\n';
    expect(bridgeProblems(listing, [{ dev: 'vif2.0', checks: 1 }])).toEqual([]);
    expect(bridgeProblems(listing, [{ dev: 'vif2.0', checks: 2 }, { dev: 'vif3.0', checks: 2 }, { dev: 'vif4.0', checks: 0 }])).toEqual([
      { code: 'bridge-checks-differ', dev: 'vif2.0', held: 1, installed: 2 },
      { code: 'bridge-element-missing', dev: 'vif3.0' },
      { code: 'bridge-chain-missing', dev: 'vif3.0' },
    ]);
    expect(bridgeProblems(undefined, [{ dev: 'vif2.0', checks: 1 }])).toEqual([{ code: 'bridge-table-missing' }]);
    expect(bridgeProblems(listing.replace('iifname vmap @vifs', 'accept'), [{ dev: 'vif2.0', checks: 1 }])).toEqual([{ code: 'bridge-base-modified' }]);
  });
});

describe('rule word diffs', () => {
  it('show only what changed, removals before additions', () => {
    expect(diffLines(['a', 'b', 'c'], ['a', 'x', 'c', 'd'])).toEqual([
      { sign: '-', text: 'b' },
      { sign: '+', text: 'x' },
      { sign: '+', text: 'd' },
    ]);
    expect(ruleWordsDiff({ lines: ['allow  in tcp 22'], antispoof: 'full' }, { lines: ['allow in tcp 22'], antispoof: 'mac' })).toEqual([
      { sign: '-', text: 'anti-spoofing full' },
      { sign: '+', text: 'anti-spoofing mac' },
    ]);
  });
});

describe('config lint', () => {
  const cfg = (text: string) => unwrap(parseXlConfig(text, 'x.cfg'));
  const messages = (text: string, vifs?: number) => lintConfigKeys(cfg(text), vifs).map((f) => `${f.at.line}:${f.at.col} ${f.message}`);

  it('names a misspelt key of ours, a list set twice, and a firewall_vifN for no vif', () => {
    expect(messages('firewal = []\nfirewall_antispof = "off"\nfirewall_vif1 = []\nmemory = 512\nfirewall = []\nfirewall = []\n', 1)).toEqual([
      '1:1 unknown key "firewal", ignored by xl and vif-firewall: did you mean "firewall"?',
      '2:1 unknown key "firewall_antispof", ignored by xl and vif-firewall: did you mean "firewall_antispoof"?',
      '3:1 "firewall_vif1" applies to no vif: the vif list has 1 (vif 0)',
      '5:1 "firewall" is set again on line 6: xl keeps only the last, so this one is ignored',
    ]);
    expect(messages('firewall_vif1 = []\n')).toEqual([]);
  });

  it('warns of rules that let everything in, and of nothing narrower', () => {
    const lines = (texts: string[]) => texts.map((value, i) => ({ value, at: { file: 'x.cfg', line: i + 1, col: 1 } }));
    const lint = (texts: string[]) => lintAllowsEverything(unwrap(parseRuleSet(lines(texts))), lines(texts)).map((f) => f.at.line);
    expect(lint(['allow in', 'policy in accept'])).toEqual([1, 2]);
    expect(lint(['allow in tcp', 'allow in from 192.0.2.0/24', 'allow out', 'policy out accept'])).toEqual([]);
  });
});

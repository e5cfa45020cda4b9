import { recordedPath } from '../../src/compile/transaction.js';
import { describe, expect, it } from 'vitest';
import type { VifRecord } from '../../src/apply/records.js';
import { expectedTable, type TableModel } from '../../src/compile/expected.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { installedOf, type Installed } from '../../src/read/recorded.js';
import { formatStatus, judgeStatus, statusExitCode, statusJson, summaryLine, type Observed } from '../../src/report/status.js';

/**
 * status judged and written from what the shell reads: two guests installed as sequential
 * onlines leave them, counters on their rules, and then each way the kernel or a config
 * departs from that. The golden files are reviewed by hand.
 */

const lines = (file: string, texts: string[], from = 4) => texts.map((value, i) => ({ value, at: { file, line: from + i, col: 5 } }));

function record(n: number, domain: string, texts: string[]): VifRecord {
  const file = `/etc/xen/${domain}.cfg`;
  return {
    vif: `vif${n}.0`,
    dev: unwrap(parseIfName(`vif${n}.0`)),
    domain,
    domid: n,
    devid: 0,
    bridge: 'xenbr0',
    ip: [`192.0.2.${10 + n}`],
    mac: `00:16:3e:00:0${n}:00`,
    antispoof: 'full',
    configFile: file,
    rules: texts.filter((t) => /^(allow|drop|reject)/.test(t)).length,
    appliedAt: '2026-12-01T10:00:00.000Z',
    source: { key: 'firewall', lines: lines(file, texts) },
    warnings: n === 3 ? ['vif3.0: ip= lists no IPv6 address: the guest may send IPv6 only from its link-local address'] : [],
  };
}

const GEORGE = ['allow in tcp 22', 'allow in udp 443', 'log in'];
const MILDRED = ['allow in tcp 80,443', 'policy out drop'];

/** iptables-save -c of a model, every rule counting packets as the function says. */
function save(model: TableModel, packets: (chain: string, spec: string, i: number) => number): string {
  const out = ['*filter', ...[...model.keys()].map((c) => `:${c} ${/^[A-Z]+$/.test(c) ? 'ACCEPT' : '-'} [0:0]`)];
  for (const [chain, specs] of model) specs.forEach((spec, i) => out.push(`[${packets(chain, spec, i)}:${packets(chain, spec, i) * 60}] -A ${chain} ${spec}`));
  return [...out, 'COMMIT', ''].join('\n');
}

function bridgeListing(installed: { dev: string; checks: number }[]): string {
  return [
    'table bridge vif-fw {',
    '\tmap vifs {',
    '\t\ttype ifname : verdict',
    `\t\telements = { ${installed.map((i) => `"${i.dev}" : jump vif-fw-${i.dev}`).join(',\n\t\t\t     ')} }`,
    '\t}',
    '',
    '\tchain prerouting {',
    '\t\ttype filter hook prerouting priority filter; policy accept;',
    '\t\tiifname vmap @vifs',
    '\t}',
    ...installed.flatMap((i) => ['', `\tchain vif-fw-${i.dev} {`, ...Array.from({ length: i.checks }, (_, k) => `\t\tcheck ${k}`), '\t}']),
    '}',
    '',
  ].join('\n');
}

async function world(edit: { george?: string[]; kernel?: (s: Record<4 | 6, string>) => void; sysctl6?: string } = {}): Promise<Observed> {
  const records = [record(2, 'george', GEORGE), record(3, 'mildred', MILDRED)];
  const installed: Installed[] = await Promise.all(records.map((r) => installedOf(r)));
  const options = { acceptAllowed: true };
  const model = (f: 4 | 6) => expectedTable(records.map((r, i) => ({ path: recordedPath(r), bodies: installed[i]!.firewall.chains[f] })), f, options);
  // Deterministic counters: the policy drops of george's in chain count 7 per family, every other rule i+1.
  const count = (chain: string, spec: string, i: number) => (chain === 'vif-fw-in-vif2.0' && spec === '-j DROP' ? 7 : i + 1);
  const saves = { 4: save(model(4), count), 6: save(model(6), count) };
  edit.kernel?.(saves);
  return {
    saves,
    bridge: bridgeListing(records.map((r, i) => ({ dev: r.dev, checks: installed[i]!.firewall.bridge.length }))),
    brNetfilter: { 4: '1', 6: edit.sysctl6 ?? '1' },
    vifs: records.map((r, i) => ({
      record: r,
      installed: installed[i]!,
      config: { lines: r.domain === 'george' ? (edit.george ?? GEORGE) : MILDRED, antispoof: 'full' },
    })),
    linkExists: (dev) => ['vif2.0', 'vif3.0'].includes(dev),
    options,
  };
}

describe('status', () => {
  it('all in force: plain and -v', async () => {
    const report = judgeStatus(await world());
    expect(summaryLine(report)).toBe('2 vifs: 2 ok; firewall in force');
    expect(statusExitCode(report)).toBe(0);
    await expect(formatStatus(report, false)).toMatchFileSnapshot('../golden/status/ok.txt');
    await expect(formatStatus(report, true)).toMatchFileSnapshot('../golden/status/ok-verbose.txt');
  });

  it('a config changed since online: drift as a diff in rule words', async () => {
    const report = judgeStatus(await world({ george: ['allow in tcp 22', 'allow in udp 8443', 'log in'] }));
    expect(statusExitCode(report)).toBe(1);
    expect(report.vifs[0]!.drift).toEqual([
      { sign: '-', text: 'allow in udp 443' },
      { sign: '+', text: 'allow in udp 8443' },
    ]);
    await expect(formatStatus(report, false)).toMatchFileSnapshot('../golden/status/drift.txt');
  });

  it('a chain edited by hand: the spec lines that differ', async () => {
    const report = judgeStatus(
      await world({ kernel: (s) => (s[4] = s[4].replace('-A vif-fw-in-vif3.0 -p tcp -m multiport --dports 80,443 -j RETURN', '-A vif-fw-in-vif3.0 -p tcp -m multiport --dports 80,443,8080 -j RETURN')) }),
    );
    expect(report.vifs.map((v) => v.state)).toEqual(['ok', 'modified']);
    await expect(formatStatus(report, false)).toMatchFileSnapshot('../golden/status/modified.txt');
  });

  it('the path broken host-wide: every vif bypassed', async () => {
    const report = judgeStatus(await world({ kernel: (s) => (s[4] = s[4].replace(/^\[\d+:\d+\] -A FORWARD -j VIF-FW\n/m, '')), sysctl6: '0' }));
    expect(report.vifs.map((v) => v.state)).toEqual(['bypassed', 'bypassed']);
    expect(summaryLine(report)).toBe('2 vifs: 2 bypassed; firewall NOT in force: net.bridge.bridge-nf-call-ip6tables is 0: bridged IPv6 traffic bypasses ip6tables (and 1 more)');
    await expect(formatStatus(report, false)).toMatchFileSnapshot('../golden/status/bypassed.txt');
  });

  it('a device gone: its chains and record summed up as an orphan, not a vif', async () => {
    const report = judgeStatus({ ...(await world()), linkExists: (dev) => dev === 'vif2.0' });
    expect(report.vifs.map((v) => v.dev)).toEqual(['vif2.0']);
    expect(report.orphans).toEqual([{ dev: 'vif3.0', vif: 'vif3.0', domain: 'mildred', chains: true, record: true }]);
    expect(statusExitCode(report)).toBe(0);
    expect(formatStatus(report, false).split('\n').at(-1)).toBe('1 orphaned device (vif3.0): chains or records of devices that are gone: run vif-firewall sweep');
  });

  it('--json: a versioned object with codes, not sentences', async () => {
    const report = judgeStatus(await world({ george: ['allow in tcp 22'], kernel: (s) => (s[6] = s[6].replace(/^\[\d+:\d+\] -A INPUT -j VIF-FW-INPUT\n/m, '')) }));
    await expect(JSON.stringify(statusJson(report), null, 2)).toMatchFileSnapshot('../golden/status/status.json');
  });
});

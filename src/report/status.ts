import { type JsonOutput, jsonOutput } from '../cli/json.js';
import { basename } from 'node:path';
import type { VifRecord } from '../apply/records.js';
import { chainSpans, type SpanOrigin } from '../compile/chains.js';
import { type BridgeProblem, type ChainDifference, bridgeProblems, compareTables, expectedTable, ourPart } from '../compile/expected.js';
import { vifChainRules, type CountedRule } from '../compile/installed.js';
import { deviceOfVifChain, vifChain } from '../compile/names.js';
import { type InstallOptions, recordedPath } from '../compile/transaction.js';
import type { Installed } from '../read/recorded.js';
import type { AntispoofLevel, Direction, Family } from '../rules/model.js';
import { type DiffLine, ruleWordsDiff } from './diff.js';

/**
 * `status`: the kernel held to what online installed, the config held to what online read,
 * judged from what the shell gathered (src/cli/status.ts). Pure, so that every verdict and
 * every line of output is tested without a kernel.
 */

/** What the shell read of the host. */
export interface Observed {
  /** `iptables-save -c -t filter` and `ip6tables-save -c -t filter`. */
  readonly saves: Readonly<Record<Family, string>>;
  /** `nft list table bridge vif-fw`; undefined: no such table. */
  readonly bridge: string | undefined;
  /** net.bridge.bridge-nf-call-iptables and -ip6tables; undefined: br_netfilter not loaded. */
  readonly brNetfilter: Readonly<Record<Family, string | undefined>>;
  readonly vifs: readonly RecordedVif[];
  /** Whether a network device exists. */
  readonly linkExists: (dev: string) => boolean;
  readonly options: InstallOptions;
}

export interface RecordedVif {
  readonly record: VifRecord;
  /** What the record says is installed, or why it cannot be rebuilt. */
  readonly installed: Installed | { readonly error: string };
  /** The config's rule lines and anti-spoofing level now, or why they cannot be read. */
  readonly config: { readonly lines: readonly string[]; readonly antispoof: AntispoofLevel } | { readonly error: string };
}

/**
 * ok: in force as installed, config unchanged. drift: in force as installed, but the config now
 * says otherwise (reload applies it). config-error: in force as installed, the config is gone
 * or does not parse. modified: the kernel differs from what was installed (edited by hand, or
 * partly removed). missing: none of its chains are in the kernel. bypassed: its own rules are
 * whole but the path to them is not (a jump, br_netfilter, the bridge table). unrecorded: a
 * live device with chains of ours that online did not record.
 */
export const VIF_STATES = ['ok', 'drift', 'config-error', 'modified', 'missing', 'bypassed', 'unrecorded'] as const;
export type VifState = (typeof VIF_STATES)[number];

/** One way the kernel differs from what was installed. */
export type Problem =
  | { readonly code: 'rules-missing' | 'rules-extra'; readonly family: Family; readonly chain: string; readonly rules: readonly string[] }
  | { readonly code: 'chain-missing' | 'chain-reordered'; readonly family: Family; readonly chain: string }
  | { readonly code: 'br-netfilter-off'; readonly family: Family; readonly sysctl: string; readonly value: string | null }
  | BridgeProblem;

/** A config line (`web.cfg:4 allow in tcp 80`) or what the compiler adds itself, with the kernel's counters of what it compiled to. */
export interface RuleCounters {
  readonly where: string;
  readonly text: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface VifReport {
  readonly domain: string | null;
  readonly vif: string | null;
  readonly dev: string;
  readonly bridge: string | null;
  readonly state: VifState;
  readonly inForce: boolean;
  readonly configFile: string | null;
  readonly appliedAt: string | null;
  readonly antispoof: AntispoofLevel | null;
  readonly rules: number;
  /** Packets the vif's chains dropped or rejected since online (or the last reload). */
  readonly dropped: number;
  /** The config's rule words against those installed. */
  readonly drift: readonly DiffLine[];
  readonly configError: string | null;
  readonly problems: readonly Problem[];
  readonly warnings: readonly string[];
  /** Empty unless the vif's chains are exactly as installed. */
  readonly counters: readonly RuleCounters[];
}

/** A device that is gone, with what it left behind. */
export interface Orphan {
  readonly dev: string;
  readonly vif: string | null;
  readonly domain: string | null;
  readonly chains: boolean;
  readonly record: boolean;
}

export interface StatusReport {
  /** Host-wide problems: every vif is bypassed while one is there. */
  readonly host: readonly Problem[];
  readonly vifs: readonly VifReport[];
  readonly orphans: readonly Orphan[];
}

export function judgeStatus(o: Observed): StatusReport {
  const counted = { 4: vifChainRules(o.saves[4]), 6: vifChainRules(o.saves[6]) };
  const kernelDevs = new Set([...counted[4].keys(), ...counted[6].keys()].map((c) => deviceOfVifChain(c)!.dev));
  const live = o.vifs.filter((v) => o.linkExists(v.record.dev));
  const buildable = live.flatMap((v) => ('error' in v.installed ? [] : [{ v, installed: v.installed }]));
  const differences = ([4, 6] as const).flatMap((f) =>
    compareTables(f, expectedTable(buildable.map((b) => ({ path: recordedPath(b.v.record), bodies: b.installed.firewall.chains[f] })), f, o.options), ourPart(o.saves[f])),
  );
  const bridge = bridgeProblems(o.bridge, buildable.map((b) => ({ dev: b.v.record.dev, checks: b.installed.firewall.bridge.length })));
  const host = live.length === 0 ? [] : [...brNetfilterProblems(o.brNetfilter), ...differences.filter((d) => d.dev === undefined).flatMap(problemsOf), ...bridge.filter((b) => !('dev' in b))];

  const vifs: VifReport[] = live.map((v) => {
    const own = [...differences.filter((d) => d.dev === v.record.dev).flatMap(problemsOf), ...bridge.filter((b) => 'dev' in b && b.dev === v.record.dev)];
    return vifReport(v, own, host.length > 0, counted);
  });
  const recorded = new Set(o.vifs.map((v) => v.record.dev as string));
  for (const dev of [...kernelDevs].filter((d) => o.linkExists(d) && !recorded.has(d)).sort())
    vifs.push({ ...EMPTY_ROW, dev, state: 'unrecorded', dropped: dropped(counted, dev) });

  const gone = [...new Set([...o.vifs.map((v) => v.record.dev as string), ...kernelDevs])].filter((d) => !o.linkExists(d)).sort();
  const orphans = gone.map((dev) => {
    const r = o.vifs.find((v) => v.record.dev === dev)?.record;
    return { dev, vif: r?.vif ?? null, domain: r?.domain ?? null, chains: kernelDevs.has(dev), record: r !== undefined };
  });
  return { host, vifs: vifs.sort((a, b) => (a.domain ?? '~').localeCompare(b.domain ?? '~') || a.dev.localeCompare(b.dev)), orphans };
}

const EMPTY_ROW = {
  domain: null,
  vif: null,
  bridge: null,
  inForce: false,
  configFile: null,
  appliedAt: null,
  antispoof: null,
  rules: 0,
  drift: [],
  configError: null,
  problems: [],
  warnings: [],
  counters: [],
} as const;

type Counted = Record<Family, Map<string, CountedRule[]>>;

function vifReport(v: RecordedVif, own: Problem[], bypassed: boolean, counted: Counted): VifReport {
  const r = v.record;
  const dev = r.dev;
  const installed = 'error' in v.installed ? undefined : v.installed;
  const configError = 'error' in v.config ? v.config.error : 'error' in v.installed ? v.installed.error : null;
  const drift =
    'error' in v.config || !installed
      ? []
      : ruleWordsDiff({ lines: installed.lines.map((l) => l.value), antispoof: r.antispoof }, v.config);
  const allGone = (['in', 'out'] as const).every((d) => ([4, 6] as const).every((f) => !counted[f].has(vifChain(d, dev))));
  const state: VifState = allGone ? 'missing' : own.length ? 'modified' : bypassed ? 'bypassed' : configError ? 'config-error' : drift.length ? 'drift' : 'ok';
  return {
    domain: r.domain,
    vif: r.vif,
    dev,
    bridge: r.bridge,
    state,
    inForce: state === 'ok' || state === 'drift' || state === 'config-error',
    configFile: r.configFile,
    appliedAt: r.appliedAt,
    antispoof: r.antispoof,
    rules: r.rules,
    dropped: dropped(counted, dev),
    drift,
    configError,
    problems: allGone ? [] : own,
    warnings: r.warnings ?? [],
    counters: installed && own.length === 0 ? ruleCounters(installed, r, counted) : [],
  };
}

function words(text: string): string {
  return text.trim().split(/\s+/).join(' ');
}

function dropped(counted: Counted, dev: string): number {
  let n = 0;
  for (const f of [4, 6] as const)
    for (const d of ['in', 'out'] as const)
      for (const c of counted[f].get(vifChain(d, dev as never)) ?? []) if (/ -j (DROP|REJECT)\b/.test(` ${c.spec}`)) n += c.packets;
  return n;
}

/** Each config line's share of the counters, both families summed; the compiler's own rules per direction. */
function ruleCounters(installed: Installed, r: VifRecord, counted: Counted): RuleCounters[] {
  const file = basename(r.configFile);
  const rows = new Map<string, RuleCounters>();
  const add = (key: string, where: string, text: string, c: CountedRule) => {
    const row = rows.get(key) ?? { where, text, packets: 0, bytes: 0 };
    rows.set(key, { ...row, packets: row.packets + c.packets, bytes: row.bytes + c.bytes });
  };
  const setting = (prefix: string) => installed.lines.find((l) => words(l.value).startsWith(prefix));
  const label = (origin: SpanOrigin, d: Direction): [string, string, string] => {
    if (origin.kind === 'rule') return [`rule ${origin.rule.at.line}:${origin.rule.at.col}`, `${file}:${origin.rule.at.line}`, words(origin.rule.text)];
    if (origin.kind === 'built-in') return [`built-in ${d}`, '(built-in)', `${d}: conntrack state, DHCP, IPv6 neighbour discovery and MLD`];
    const line = setting(`${origin.kind} ${d}`);
    const text = origin.kind === 'log' ? `log ${d}` : `policy ${d} ${installed.ruleSet.policy[d]}`;
    return [`${origin.kind} ${d}`, line ? `${file}:${line.at.line}` : '(default)', text];
  };
  // Config order: the rules, then each direction's log and policy, then what the compiler adds.
  const order: string[] = [];
  for (const d of ['in', 'out'] as const)
    for (const f of [4, 6] as const) {
      const spans = chainSpans(installed.ruleSet, f, d, { dev: r.dev, domain: r.domain });
      const held = counted[f].get(vifChain(d, r.dev)) ?? [];
      let i = 0;
      for (const span of spans) {
        if (span.origin.kind === 'log' && span.specs.length === 0) continue; // no log line in the config
        const [key, where, text] = label(span.origin, d);
        if (!order.includes(key)) order.push(key);
        for (const _ of span.specs) add(key, where, text, held[i++]!);
        if (!rows.has(key)) rows.set(key, { where, text, packets: 0, bytes: 0 });
      }
    }
  const rank = (key: string) => (key.startsWith('rule ') ? 0 : key.startsWith('built-in') ? 2 : 1);
  const byLine = (key: string) => (key.startsWith('rule ') ? key.slice(5).split(':').map(Number) : [0, 0]);
  return order
    .sort((a, b) => rank(a) - rank(b) || byLine(a)[0]! - byLine(b)[0]! || byLine(a)[1]! - byLine(b)[1]!)
    .map((k) => rows.get(k)!);
}

function brNetfilterProblems(values: Observed['brNetfilter']): Problem[] {
  return ([4, 6] as const).flatMap((f) => {
    const value = values[f];
    const sysctl = `net.bridge.bridge-nf-call-${f === 4 ? 'iptables' : 'ip6tables'}`;
    return value === '1' ? [] : [{ code: 'br-netfilter-off' as const, family: f, sysctl, value: value ?? null }];
  });
}

function problemsOf(d: ChainDifference): Problem[] {
  const { family, chain } = d;
  if (d.chainMissing) return [{ code: 'chain-missing', family, chain }];
  return [
    ...(d.missing.length ? [{ code: 'rules-missing' as const, family, chain, rules: d.missing }] : []),
    ...(d.extra.length ? [{ code: 'rules-extra' as const, family, chain, rules: d.extra }] : []),
    ...(d.reordered ? [{ code: 'chain-reordered' as const, family, chain }] : []),
  ];
}

const FAMILY = { 4: 'IPv4', 6: 'IPv6' } as const;

/** A problem in words. */
export function describeProblem(p: Problem): string {
  switch (p.code) {
    case 'rules-missing':
      return `${FAMILY[p.family]} ${p.chain} lacks ${p.rules.map((s) => `"${s}"`).join(', ')}`;
    case 'rules-extra':
      return `${FAMILY[p.family]} ${p.chain} holds rules not installed by vif-firewall: ${p.rules.map((s) => `"${s}"`).join(', ')}`;
    case 'chain-missing':
      return `${FAMILY[p.family]} chain ${p.chain} is missing`;
    case 'chain-reordered':
      return `${FAMILY[p.family]} chain ${p.chain} holds its rules in another order`;
    case 'br-netfilter-off':
      return p.value === null ? 'br_netfilter is not loaded: bridged traffic bypasses iptables' : `${p.sysctl} is ${p.value}: bridged ${FAMILY[p.family]} traffic bypasses ${p.family === 4 ? 'iptables' : 'ip6tables'}`;
    case 'bridge-table-missing':
      return 'the nft table bridge vif-fw is missing: no anti-spoofing checks';
    case 'bridge-base-modified':
      return 'the base chain prerouting of nft table bridge vif-fw is not as installed';
    case 'bridge-element-missing':
      return `the map vifs of nft table bridge vif-fw has no entry for ${p.dev}`;
    case 'bridge-chain-missing':
      return `nft table bridge vif-fw has no chain vif-fw-${p.dev}`;
    case 'bridge-checks-differ':
      return `nft chain vif-fw-${p.dev} holds ${p.held} checks, ${p.installed} were installed`;
  }
}

/** The first line of status: the counts by state, and whether the firewall is in force. */
export function summaryLine(report: StatusReport): string {
  const n = report.vifs.length;
  const counts = VIF_STATES.map((s) => [s, report.vifs.filter((v) => v.state === s).length] as const).filter(([, c]) => c > 0);
  const head = `${n} vif${n === 1 ? '' : 's'}${n ? `: ${counts.map(([s, c]) => `${c} ${s}`).join(', ')}` : ''}`;
  const notInForce = report.vifs.filter((v) => !v.inForce);
  const verdict = report.host.length
    ? `firewall NOT in force: ${describeProblem(report.host[0]!)}${report.host.length > 1 ? ` (and ${report.host.length - 1} more)` : ''}`
    : notInForce.length
      ? `firewall NOT in force for ${notInForce.map((v) => v.dev).join(', ')}`
      : n
        ? 'firewall in force'
        : 'nothing to enforce';
  return `${head}; ${verdict}`;
}

/** 0 when every vif is in force as its config says; 1 otherwise (orphans are litter, not a fault). */
export function statusExitCode(report: StatusReport): 0 | 1 {
  return report.host.length === 0 && report.vifs.every((v) => v.state === 'ok') ? 0 : 1;
}

/** The text an admin reads. */
export function formatStatus(report: StatusReport, verbose: boolean): string {
  const out = [summaryLine(report)];
  for (const p of report.host) out.push(`  ${describeProblem(p)}`);
  if (report.host.length) out.push('  (vif-firewall repair reinstalls every recorded vif)');
  if (report.vifs.length) {
    const rows = report.vifs.map((v) => [v.domain ?? '-', v.vif ?? v.dev, v.bridge ?? '-', v.state, String(v.rules), String(v.dropped)]);
    out.push('', ...table([['DOMAIN', 'VIF', 'BRIDGE', 'STATE', 'RULES', 'DROPPED'], ...rows], [false, false, false, false, true, true]));
  }
  for (const v of report.vifs) {
    const detail = vifDetail(v, verbose);
    if (detail.length) out.push('', ...detail);
  }
  if (report.orphans.length) {
    const n = report.orphans.length;
    out.push('', `${n} orphaned device${n === 1 ? '' : 's'} (${report.orphans.map((o) => o.dev).join(', ')}): chains or records of devices that are gone: run vif-firewall sweep`);
  }
  return out.join('\n');
}

function vifDetail(v: VifReport, verbose: boolean): string[] {
  const name = `${v.vif ?? v.dev}${v.domain ? ` (${v.domain})` : ''}`;
  const out: string[] = [];
  if (v.state === 'unrecorded') out.push(`${name}: chains of a device online did not record: replay online for it, or sweep once it is gone`);
  if (v.state === 'missing') out.push(`${name}: none of its chains are in the kernel: vif-firewall repair`);
  if (v.problems.length) {
    out.push(`${name}: the kernel differs from what was installed: vif-firewall repair`);
    for (const p of v.problems) {
      if (p.code === 'rules-missing' || p.code === 'rules-extra')
        for (const s of p.rules) out.push(`  ${p.code === 'rules-missing' ? '-' : '+'} ${FAMILY[p.family]} ${p.chain} ${s}`);
      else out.push(`  ${describeProblem(p)}`);
    }
  }
  if (v.configError) out.push(`${name}: ${v.configError}`);
  if (v.drift.length) {
    out.push(`${name}: ${v.configFile ? basename(v.configFile) : 'the config'} has changed since it was applied: vif-firewall reload ${v.vif}`);
    for (const d of v.drift) out.push(`  ${d.sign} ${d.text}`);
  }
  if (verbose || v.state !== 'ok') for (const w of v.warnings) out.push(`${name}: warning: ${w}`);
  if (verbose && v.counters.length) {
    out.push(`${name}: applied ${v.appliedAt} from ${v.configFile}, anti-spoofing ${v.antispoof}`);
    const rows = v.counters.map((c) => [c.where, c.text, String(c.packets), String(c.bytes)]);
    out.push(...table([['', '', 'PACKETS', 'BYTES'], ...rows], [false, false, true, true]).map((l) => `  ${l}`));
  }
  return out;
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table(rows: readonly string[][], right: readonly boolean[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** `status --json`: the same as data. */
export function statusJson(report: StatusReport): JsonOutput<object> {
  const inForce = report.host.length === 0 && report.vifs.every((v) => v.inForce);
  return jsonOutput({ inForce, exitCode: statusExitCode(report), message: summaryLine(report), host: report.host, vifs: report.vifs, orphans: report.orphans });
}

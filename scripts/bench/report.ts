import type { CellResult, EquivalenceResult, FloorResult, StormResult, ToolCost } from './measure.js';
import { summarize } from './stats.js';
import type { Approach, Backend } from './world.js';

export interface Target {
  target: string;
  measured: string;
  /** undefined: not measured in this run (e.g. --quick has no M = 1,000). */
  met: boolean | undefined;
}

export interface BenchResults {
  meta: {
    date: string;
    kernel: string;
    cpus: number;
    cpuModel: string;
    node: string;
    iptables: string;
    hook: { path: string; sha256: string; bytes: number; olderThanSrc: boolean };
    options: Record<string, unknown>;
    preinstall: string;
    durationS: number;
    /** 1-minute load average when the run started: above ~0.5, something else was using the CPUs. */
    loadBefore: number;
  };
  equivalence: EquivalenceResult[];
  tools: ToolCost[];
  floors: FloorResult[];
  cells: CellResult[];
  storms: StormResult[];
  skipped: string[];
  targets: Target[];
  /** profileCall.ts's report of one online and one offline (markdown lines); absent in older runs. */
  profile?: string[];
}

const NAMES: Record<Approach, string> = { baseline: 'minimal reference', same: 'same-protection reference', hook: 'vif-firewall' };
const APPROACHES = ['baseline', 'same', 'hook'] as const;
const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2));
const mb = (kib: number) => (kib * 1024) / 1e6;

function cellOf(r: BenchResults, backend: Backend, approach: Approach, k: number, m: number): CellResult | undefined {
  return r.cells.find((c) => c.backend === backend && c.approach === approach && c.k === k && c.m === m && c.online.length > 0);
}

function floorOf(r: BenchResults, backend: Backend, k: number, m: number): FloorResult | undefined {
  return r.floors.find((f) => f.backend === backend && f.k === k && f.m === m);
}

const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];
const backendsOf = (r: BenchResults) => uniq(r.cells.map((c) => c.backend).concat(r.storms.map((s) => s.backend)));
const ksOf = (r: BenchResults) => uniq(r.cells.map((c) => c.k)).sort((a, b) => a - b);
const msOf = (r: BenchResults) => uniq(r.cells.map((c) => c.m)).sort((a, b) => a - b);
const maxRss = (cells: CellResult[]) => Math.max(0, ...cells.flatMap((c) => [...c.rssKiB.online, ...c.rssKiB.offline]));
const chartK = (r: BenchResults) => (ksOf(r).includes(20) ? 20 : (ksOf(r)[Math.floor(ksOf(r).length / 2)] ?? 20));

/** The targets, with what this run measured (on nft, K = 20, as the targets are set). */
export function targets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const k = 20;
  const b: Backend = 'nft';
  const med = (c: CellResult | undefined, which: 'onlineSummary' | 'offlineSummary') => c?.[which].median;
  {
    const hook = med(cellOf(r, b, 'hook', k, 100), 'onlineSummary');
    const base = med(cellOf(r, b, 'baseline', k, 100), 'onlineSummary');
    const same = med(cellOf(r, b, 'same', k, 100), 'onlineSummary');
    out.push({
      target: 'nft: online, K = 20, M = 100: ≤ 1.0 × the minimal reference and ≤ 0.5 × the same-protection reference',
      measured: hook && base && same ? `${f1(hook)} ms: ${f2(hook / base)}× minimal (${f1(base)} ms), ${f2(hook / same)}× same (${f1(same)} ms)` : 'not measured',
      met: hook && base && same ? hook / base <= 1 && hook / same <= 0.5 : undefined,
    });
  }
  {
    const cell = cellOf(r, b, 'hook', k, 1);
    const floor = floorOf(r, b, k, 1)?.total.median;
    const on = med(cell, 'onlineSummary');
    const off = med(cell, 'offlineSummary');
    out.push({
      target: 'nft: online and offline, K = 20, M = 1: each ≤ floor + 35 ms',
      measured: on && off && floor ? `floor ${f1(floor)} ms; online +${f1(on - floor)} ms, offline +${f1(off - floor)} ms` : 'not measured',
      met: on && off && floor ? on - floor <= 35 && off - floor <= 35 : undefined,
    });
  }
  {
    const storms = (a: Approach) => r.storms.filter((x) => x.backend === b && x.approach === a);
    const hook = storms('hook');
    const base = storms('baseline');
    const good = hook.filter((x) => x.correct && x.offlineClean).length;
    const wall = (xs: StormResult[]) => summarize(xs.map((x) => x.onlineWallMs)).median;
    out.push({
      target: `nft: boot storm, ${hook[0]?.size ?? 100} vifs online at once (K = 20): all online no later than the minimal reference's storm, rule set right every run`,
      measured: hook.length && base.length ? `${f1(wall(hook))} ms vs ${f1(wall(base))} ms; ${good} of ${hook.length} runs correct` : 'not measured',
      met: hook.length && base.length ? wall(hook) <= wall(base) && good === hook.length : undefined,
    });
  }
  {
    const lo = med(cellOf(r, b, 'hook', k, 1), 'onlineSummary');
    const hi = med(cellOf(r, b, 'hook', k, 1000), 'onlineSummary');
    const hookCells = r.cells.filter((c) => c.approach === 'hook');
    const rss = maxRss(hookCells);
    out.push({
      target: 'nft: online at M = 1,000 ≤ 1.5 × online at M = 1 (K = 20); hook peak RSS < 60 MB',
      measured: `${lo && hi ? `${f1(hi)} / ${f1(lo)} ms = ${f2(hi / lo)}×` : 'M = 1,000 not measured'}; peak RSS ${rss ? `${mb(rss).toFixed(1)} MB` : 'not measured'}`,
      met: lo && hi && rss ? hi / lo <= 1.5 && mb(rss) < 60 : undefined,
    });
  }
  return out;
}

/** Rules per guest of each approach and family, from the table sizes at two values of M. */
function rulesPerGuest(r: BenchResults): string {
  const per = (a: Approach, f: 4 | 6): string | undefined => {
    const cells = r.cells.filter((c) => c.approach === a && c.backend === r.cells[0]?.backend);
    const k = cells[0]?.k;
    const same = cells.filter((c) => c.k === k).sort((x, y) => x.m - y.m);
    const lo = same[0];
    const hi = same[same.length - 1];
    if (!lo || !hi || hi.m === lo.m || k === undefined) return undefined;
    const n = Math.round((hi.tableRules[f] - lo.tableRules[f]) / (hi.m - lo.m)) - k;
    return n < -k / 2 ? '0' : `K ${n >= 0 ? '+' : '−'} ${Math.abs(n)}`;
  };
  const h4 = per('hook', 4);
  const h6 = per('hook', 6);
  const b4 = per('baseline', 4);
  const b6 = per('baseline', 6);
  if (!h4 || !b4) return '';
  return `Rules per guest: vif-firewall ${h4} IPv4 and ${h6} IPv6 (state, DHCP/ND, policy, dispatch), the baseline ${b4} IPv4${b6 === '0' ? ' and none for IPv6' : ` and ${b6} IPv6`}.`;
}

/** The markdown report: the tables of the run, for the README's Performance section. */
export function markdown(r: BenchResults): string {
  const L: string[] = [];
  const o = r.meta.options as { reps: number; storms: number; stormSize: number; quick: boolean };
  L.push(`Measured ${r.meta.date.slice(0, 10)} with \`sudo npm run bench${o.quick ? ' -- --quick' : ''}\` (${r.meta.durationS} s): ${r.meta.cpus} × ${r.meta.cpuModel}, Linux ${r.meta.kernel}, Node.js ${r.meta.node}, ${r.meta.iptables}; hook \`${r.meta.hook.path}\` (sha256 ${r.meta.hook.sha256}…${r.meta.hook.olderThanSrc ? ', OLDER than src/' : ''}); load average ${r.meta.loadBefore.toFixed(2)} at the start${r.meta.loadBefore > 0.5 ? ' (**a busy machine: noisy numbers**)' : ''}.`);
  L.push('');
  L.push(
    `Each cell: M guests already installed, K rules each (\`allow in tcp P\` ×K for vif-firewall; \`--dport P\` ×K per family for the references), then up to ${o.reps} rounds of one more guest's \`online\` and \`offline\`, each call timed alone from spawn to exit by a process inside the dom0 netns, after one untimed warm-up round. The minimal reference (\`scripts/baseline-vif.sh\`) protects IPv4 ingress only; the same-protection reference (\`scripts/baseline-same.sh\`) gives what vif-firewall gives, one \`iptables\`/\`ip6tables\`/\`ebtables\` process per rule. ${rulesPerGuest(r)} Ratio = vif-firewall / reference (< 1: vif-firewall is faster). Floor = \`node -e 0\` + one empty \`iptables-restore --noflush\`, measured on the same tables.`,
  );
  L.push('');
  L.push('| backend | K | M | online minimal | online same | online vif-firewall | ratio min / same | offline minimal | offline same | offline vif-firewall | ratio min / same | floor | vif-firewall − floor | peak RSS |');
  L.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const b of backendsOf(r))
    for (const k of ksOf(r))
      for (const m of msOf(r)) {
        const base = cellOf(r, b, 'baseline', k, m);
        const same = cellOf(r, b, 'same', k, m);
        const hook = cellOf(r, b, 'hook', k, m);
        if (!base && !same && !hook) continue;
        const fl = floorOf(r, b, k, m);
        const mp = (c: CellResult | undefined, which: 'onlineSummary' | 'offlineSummary') => (c ? `${f1(c[which].median)} / ${f1(c[which].p95)}` : '–');
        const ratio = (ref: CellResult | undefined, which: 'onlineSummary' | 'offlineSummary') => (ref && hook ? f2(hook[which].median / ref[which].median) : '–');
        const ratios = (which: 'onlineSummary' | 'offlineSummary') => `${ratio(base, which)} / ${ratio(same, which)}`;
        const rss = hook ? maxRss([hook]) : 0;
        L.push(
          `| ${b} | ${k} | ${m.toLocaleString('en')} | ${mp(base, 'onlineSummary')} | ${mp(same, 'onlineSummary')} | ${mp(hook, 'onlineSummary')} | ${ratios('onlineSummary')} | ${mp(base, 'offlineSummary')} | ${mp(same, 'offlineSummary')} | ${mp(hook, 'offlineSummary')} | ${ratios('offlineSummary')} | ${fl ? f1(fl.total.median) : '–'} | ${hook && fl ? `+${f1(hook.onlineSummary.median - fl.total.median)}` : '–'} | ${rss ? `${mb(rss).toFixed(1)} MB` : '–'} |`,
        );
      }
  L.push('');
  L.push('All times in ms, median / p95. Peak RSS: ru_maxrss of the hook process on the untimed warm-up calls (online and offline); MB = 10⁶ bytes.');
  L.push('');

  L.push('**How one more online grows with M** (median ms; last column: at the largest M / at M = 1):');
  L.push('');
  const ms = msOf(r);
  L.push(`| backend | approach | K | ${ms.map((m) => `M = ${m.toLocaleString('en')}`).join(' | ')} | growth |`);
  L.push(`|---|---|--:|${ms.map(() => '--:').join('|')}|--:|`);
  for (const b of backendsOf(r))
    for (const a of APPROACHES)
      for (const k of ksOf(r)) {
        const vals = ms.map((m) => cellOf(r, b, a, k, m)?.onlineSummary.median);
        if (vals.every((v) => v === undefined)) continue;
        const first = vals[0];
        const last = [...vals].reverse().find((v) => v !== undefined);
        L.push(`| ${b} | ${NAMES[a]} | ${k} | ${vals.map(f1).join(' | ')} | ${first && last ? `${f2(last / first)}×` : '–'} |`);
      }
  L.push('');

  if (r.storms.length) {
    const size = r.storms[0]!.size;
    L.push(`**Boot storm**: ${size} vifs (K = ${r.storms[0]!.k}) brought online at once on empty tables, then checked — the rule set rule for rule (the order of different guests' rules in shared chains aside), every vif on the bridge, hotplug-status connected — then all offline at once, and the tables back to exactly what they were:`);
    L.push('');
    L.push('| backend | approach | runs | all online (ms) | slowest call (ms) | all offline (ms) | correct |');
    L.push('|---|---|--:|--:|--:|--:|--:|');
    for (const b of backendsOf(r))
      for (const a of APPROACHES) {
        const s = r.storms.filter((x) => x.backend === b && x.approach === a);
        if (!s.length) continue;
        const good = s.filter((x) => x.correct && x.offlineClean).length;
        const med = (xs: number[]) => f1(summarize(xs).median);
        L.push(`| ${b} | ${NAMES[a]} | ${s.length} | ${med(s.map((x) => x.onlineWallMs))} | ${med(s.map((x) => x.onlineMaxCallMs))} | ${med(s.map((x) => x.offlineWallMs))} | ${good}/${s.length} |`);
      }
    L.push('');
    L.push('(Times: median over the runs.)');
    const bad = r.storms.filter((s) => !s.correct || !s.offlineClean);
    for (const s of bad) L.push(`- ${s.backend} ${NAMES[s.approach]} storm ${s.run}: ${s.problems.join('; ')}`);
    L.push('');
  }

  if (r.floors.length) {
    const fk = chartK(r);
    L.push(`**The floor** (K = ${fk}; median ms): what any Node.js hook pays before doing anything — starting node, and one \`iptables-restore --noflush\` of an empty transaction on the same tables — and the single processes both approaches start here:`);
    L.push('');
    L.push('| backend | M | `node -e 0` | empty `iptables-restore --noflush` | floor |');
    L.push('|---|--:|--:|--:|--:|');
    for (const b of backendsOf(r))
      for (const m of msOf(r)) {
        const fl = floorOf(r, b, fk, m);
        if (fl) L.push(`| ${b} | ${m.toLocaleString('en')} | ${f1(fl.node.median)} | ${f1(fl.restore.median)} | ${f1(fl.total.median)} |`);
      }
    L.push('');
    if (r.tools.length) {
      const whats = uniq(r.tools.map((t) => t.what));
      L.push(`| one process (median ms) | ${backendsOf(r).join(' | ')} |`);
      L.push(`|---|${backendsOf(r).map(() => '--:').join('|')}|`);
      for (const w of whats) L.push(`| ${w} | ${backendsOf(r).map((b) => f1(r.tools.find((t) => t.backend === b && t.what === w)?.ms.median)).join(' | ')} |`);
      L.push('');
      L.push('The fake xenstore clients of the test harness (bash scripts with a lock) cost more than Xen\'s C clients (about 1 ms). Per online the baseline runs one read and one write; vif-firewall one read, one `xenstore-ls` (the same fake) and one write.');
      L.push('');
    }
  }

  L.push('**Targets** (reported, not enforced by tests):');
  L.push('');
  L.push('| target | this run | |');
  L.push('|---|---|---|');
  for (const t of r.targets) L.push(`| ${t.target} | ${t.measured} | ${t.met === undefined ? 'not measured' : t.met ? 'met' : '**missed**'} |`);
  L.push('');
  const eq = r.equivalence;
  L.push(
    `Pre-install: ${r.meta.preinstall} (${eq.every((e) => e.ok) ? `checked for every backend and approach: ${eq[0]?.detail ?? ''}` : `CHECK FAILED: ${eq.filter((e) => !e.ok).map((e) => `${e.backend} ${e.approach}: ${e.detail}`).join('; ')}`}).`,
  );
  const unverified = r.cells.filter((c) => !c.preinstallVerified || !c.clean || c.errors.length);
  if (unverified.length) for (const c of unverified) L.push(`- ${c.backend} ${NAMES[c.approach]} K=${c.k} M=${c.m}: ${c.errors.join('; ') || 'pre-install not verified'}`);
  const early = r.cells.filter((c) => c.stoppedEarly);
  if (early.length) L.push(`Time-capped cells (fewer rounds): ${early.map((c) => `${c.backend} ${NAMES[c.approach]} K=${c.k} M=${c.m} n=${c.online.length}`).join(', ')}.`);
  if (r.skipped.length) L.push(`Skipped (time budget): ${r.skipped.join(', ')}.`);
  L.push('');
  if (r.profile?.length) {
    L.push('**Per-step profile of one online and one offline** (`scripts/bench/profileCall.ts`): the processes each call starts, from its exec, with how long each ran (the critical path: what starts only when another ends), and the main thread\'s self time by bundled module or node task:');
    L.push('');
    // Its headings one level down, under this section's.
    L.push(...r.profile.map((l) => (l.startsWith('#') ? `#${l}` : l)));
    L.push('');
  }
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------
// The chart: online median latency against M, log x; one line per approach and backend.

const COLORS: Record<Backend, string> = { nft: '#1f77b4', legacy: '#d62728' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgChart(r: BenchResults): string {
  const k = chartK(r);
  const W = 760;
  const H = 460;
  const pad = { l: 70, r: 200, t: 50, b: 60 };
  const pw = W - pad.l - pad.r;
  const ph = H - pad.t - pad.b;
  const ms = msOf(r).filter((m) => m > 0);
  const series: { label: string; color: string; dash: string; pts: { m: number; y: number; p95: number }[] }[] = [];
  for (const b of backendsOf(r))
    for (const a of ['hook', 'same', 'baseline'] as const) {
      const pts = ms.flatMap((m) => {
        const c = cellOf(r, b, a, k, m);
        return c ? [{ m, y: c.onlineSummary.median, p95: c.onlineSummary.p95 }] : [];
      });
      if (pts.length) series.push({ label: `${NAMES[a]}, ${b}`, color: COLORS[b], dash: { hook: '', same: '10 3 2 3', baseline: '7 5' }[a], pts });
    }
  const floors = backendsOf(r).flatMap((b) => {
    const pts = ms.flatMap((m) => {
      const f = floorOf(r, b, k, m);
      return f ? [{ m, y: f.total.median, p95: f.total.p95 }] : [];
    });
    return pts.length ? [{ label: `floor, ${b}`, color: COLORS[b], dash: '2 4', pts }] : [];
  });
  const all = [...series, ...floors].flatMap((s) => s.pts.flatMap((p) => [p.y, p.p95]));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${pad.l + pw / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">Online latency vs guests already installed (K = ${k} rules, median)</text>`);
  if (all.length === 0 || ms.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text></svg>`);
    return out.join('\n');
  }
  const xMin = Math.min(...ms);
  const xMax = Math.max(...ms);
  const lx = (m: number) => (xMax === xMin ? pad.l + pw / 2 : pad.l + ((Math.log10(m) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const logY = hi / Math.max(lo, 1e-3) > 8;
  let ticks: number[];
  let ly: (v: number) => number;
  if (logY) {
    const a = Math.floor(Math.log10(lo));
    const b = Math.ceil(Math.log10(hi));
    ticks = [];
    for (let e = a; e <= b; e++) for (const mult of [1, 2, 5]) ticks.push(mult * 10 ** e);
    ticks = ticks.filter((t) => t >= 10 ** a && t <= 10 ** b);
    ly = (v) => pad.t + ph - ((Math.log10(v) - a) / (b - a)) * ph;
  } else {
    const step = niceStep(hi / 5);
    const top = Math.ceil(hi / step) * step;
    ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
    ly = (v) => pad.t + ph - (v / top) * ph;
  }
  // Axes and grid.
  for (const t of ticks) {
    const y = ly(t);
    out.push(`<line x1="${pad.l}" x2="${pad.l + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${pad.l - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end">${t >= 1000 ? `${t / 1000}k` : t}</text>`);
  }
  for (const m of ms) {
    const x = lx(m);
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${pad.t}" y2="${pad.t + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${pad.t + ph + 18}" text-anchor="middle">${m.toLocaleString('en')}</text>`);
  }
  out.push(`<rect x="${pad.l}" y="${pad.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${pad.l + pw / 2}" y="${H - 18}" text-anchor="middle">M, guests already installed (log scale)</text>`);
  out.push(`<text transform="translate(18 ${pad.t + ph / 2}) rotate(-90)" text-anchor="middle">one online, ms${logY ? ' (log scale)' : ''}</text>`);
  // Lines.
  for (const s of [...floors, ...series]) {
    const d = s.pts.map((p, i) => `${i ? 'L' : 'M'}${lx(p.m).toFixed(1)} ${ly(p.y).toFixed(1)}`).join(' ');
    const width = s.label.startsWith('floor') ? 1.2 : 2.2;
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    if (!s.label.startsWith('floor'))
      for (const p of s.pts) {
        out.push(`<circle cx="${lx(p.m).toFixed(1)}" cy="${ly(p.y).toFixed(1)}" r="3.5" fill="${s.dash ? 'white' : s.color}" stroke="${s.color}" stroke-width="1.5"><title>${esc(`${s.label}, M=${p.m}: median ${p.y.toFixed(1)} ms, p95 ${p.p95.toFixed(1)} ms`)}</title></circle>`);
      }
  }
  // Legend.
  const lx0 = pad.l + pw + 16;
  [...series, ...floors].forEach((s, i) => {
    const y = pad.t + 10 + i * 22;
    out.push(`<line x1="${lx0}" x2="${lx0 + 30}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="${s.label.startsWith('floor') ? 1.2 : 2.2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${lx0 + 38}" y="${y + 4}">${esc(s.label)}</text>`);
  });
  out.push(`<text x="${lx0}" y="${pad.t + ph}" font-size="10" fill="#555">${esc(r.meta.date.slice(0, 10))}, ${r.meta.cpus} CPUs</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceStep(raw: number): number {
  const e = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= raw) return m * e;
  return 10 * e;
}

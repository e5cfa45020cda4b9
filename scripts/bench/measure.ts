import { applyTemplate, bulkTransaction, canonical, exact, firstDifference, isEmptyTemplate, learnTemplate, ruleCount, type Table, type Template } from './tables.js';
import { summarize, type Summary } from './stats.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bridgeBulkScript, learnRecord, recordsFor, type Guest } from './hookState.js';
import { macOf, type Approach, type Backend, type Family, type JobResult, type World } from './world.js';

/** Raw results, as written to the JSON file. */
export interface CellResult {
  backend: Backend;
  approach: Approach;
  k: number;
  m: number;
  /** Wall times (ms) of the timed calls, in the order they ran. */
  online: number[];
  offline: number[];
  onlineSummary: Summary;
  offlineSummary: Summary;
  /** Peak RSS (KiB) of the hook process on the probed, untimed warm-up calls. */
  rssKiB: { online: number[]; offline: number[] };
  /** Rules in the filter tables with the background guests installed (v4, v6). */
  tableRules: { 4: number; 6: number };
  /** Time of the bulk pre-install transactions (ms, v4 + v6), and that the kernel's state is the one M sequential calls leave. */
  preinstallMs: number;
  preinstallVerified: boolean;
  /** After every online+offline, the tables were exactly as before. */
  clean: boolean;
  stoppedEarly: boolean;
  errors: string[];
}

export interface FloorResult {
  backend: Backend;
  k: number;
  m: number;
  nodeMs: number[];
  restoreMs: number[];
  totalMs: number[];
  node: Summary;
  restore: Summary;
  total: Summary;
}

/** What a single process of the test harness costs here: the fake xenstore clients are bash scripts, slower than Xen's C ones. */
export interface ToolCost {
  backend: Backend;
  what: string;
  ms: Summary;
}

export interface EquivalenceResult {
  backend: Backend;
  approach: Approach;
  devices: number;
  ok: boolean;
  detail: string;
}

export interface StormResult {
  backend: Backend;
  approach: Approach;
  run: number;
  size: number;
  k: number;
  onlineWallMs: number;
  offlineWallMs: number;
  /** Slowest single call of the storm. */
  onlineMaxCallMs: number;
  correct: boolean;
  offlineClean: boolean;
  problems: string[];
}

const FAMILIES = [4, 6] as const;

/** Ports of a guest with K rules: one `allow in tcp P` rule each. */
export const portsFor = (k: number): number[] => Array.from({ length: k }, (_, i) => 1001 + i);
export const devOf = (domid: number): string => `vif${domid}.0`;
const nameOf = (domid: number): string => `g${domid}`;

const TEMPLATE_DOMID = 9999;
export const PROBE_DOMID = 5000;
const STORM_FIRST_DOMID = 2001;

function failure(what: string, r: JobResult): string {
  return `${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
}

/**
 * Everything measured in one dom0 (one backend). Keeps the learnt templates: what one
 * call of each approach installs for K rules, per family.
 */
export class Bench {
  private readonly templates = new Map<string, Record<Family, Template>>();
  private probeLink = false;
  private stormLinks = 0;
  private templateLink = false;
  /** The state record the hook's template online wrote. */
  private record: Record<string, unknown> | undefined;

  constructor(readonly w: World) {}

  private async tables(): Promise<Record<Family, Table>> {
    return { 4: await this.w.table(4), 6: await this.w.table(6) };
  }

  private expected(approach: Approach, k: number, devs: readonly string[]): Record<Family, Table> {
    const t = this.templates.get(`${approach}/${k}`)!;
    return { 4: applyTemplate(this.w.baseTable(4), t[4], devs), 6: applyTemplate(this.w.baseTable(6), t[6], devs) };
  }

  /** One online of a template device on the base tables teaches what a call installs. */
  async template(approach: Approach, k: number): Promise<Record<Family, Template>> {
    const key = `${approach}/${k}`;
    const known = this.templates.get(key);
    if (known) return known;
    const dev = devOf(TEMPLATE_DOMID);
    if (!this.templateLink) {
      await this.w.addLinks([dev]);
      this.templateLink = true;
    }
    await this.w.reset();
    const before = await this.tables();
    this.w.writeGuestConfig(nameOf(TEMPLATE_DOMID), portsFor(k));
    const vif = this.w.fillVif(TEMPLATE_DOMID, nameOf(TEMPLATE_DOMID));
    const up = await this.w.runner.one(this.w.job(approach, 'online', vif, portsFor(k)));
    if (up.code !== 0) throw new Error(failure(`${approach} online of the template vif`, up));
    const after = await this.tables();
    const t = { 4: learnTemplate(before[4], after[4], dev), 6: learnTemplate(before[6], after[6], dev) };
    if (approach === 'hook') this.record = learnRecord(this.w.stateDir, dev);
    if (isEmptyTemplate(t[4]) && isEmptyTemplate(t[6])) throw new Error(`${approach} online installed no rule`);
    this.w.prepareOffline(TEMPLATE_DOMID);
    const down = await this.w.runner.one(this.w.job(approach, 'offline', vif, portsFor(k)));
    if (down.code !== 0) throw new Error(failure(`${approach} offline of the template vif`, down));
    const gone = await this.tables();
    for (const f of FAMILIES)
      if (exact(gone[f]) !== exact(before[f])) throw new Error(`${approach} offline left rules behind (IPv${f}): ${firstDifference(exact(before[f]), exact(gone[f]))}`);
    this.templates.set(key, t);
    return t;
  }

  /**
   * Installs devs with one restore per family; for the hook also their anti-spoofing checks
   * (one nft transaction) and state records, as online leaves them. Returns its time.
   */
  private async bulk(approach: Approach, k: number, devs: readonly string[]): Promise<number> {
    const t = await this.template(approach, k);
    let ms = 0;
    for (const f of FAMILIES) if (!isEmptyTemplate(t[f])) ms += await this.w.restoreNoflush(f, bulkTransaction(t[f], devs));
    if (approach === 'hook' && devs.length > 0) {
      const guests: Guest[] = devs.map((dev) => {
        const domid = Number(/^vif(\d+)\.0$/.exec(dev)![1]);
        return { domid, dev, name: nameOf(domid), mac: macOf(domid) };
      });
      ms += await this.w.nftScript(await bridgeBulkScript(join(this.w.configDir, `${nameOf(TEMPLATE_DOMID)}.cfg`), guests));
      mkdirSync(join(this.w.stateDir, 'vifs'), { recursive: true });
      for (const [file, text] of recordsFor(this.record!, guests)) writeFileSync(join(this.w.stateDir, 'vifs', file), text);
    }
    return ms;
  }

  /**
   * The bulk pre-install is only worth something if it leaves what the calls would: install
   * `n` devices with n sequential calls, then with one bulk transaction, and compare both
   * kernels' tables with each other and with the in-memory expectation, rule for rule.
   */
  async equivalence(approach: Approach, k: number, n = 3): Promise<EquivalenceResult> {
    const domids = Array.from({ length: n }, (_, i) => 1 + i);
    const devs = domids.map(devOf);
    await this.template(approach, k);
    await this.w.reset();
    await this.w.addLinks(devs);
    try {
      for (const d of domids) {
        this.w.writeGuestConfig(nameOf(d), portsFor(k));
        const r = await this.w.runner.one(this.w.job(approach, 'online', this.w.fillVif(d, nameOf(d)), portsFor(k)));
        if (r.code !== 0) return { backend: this.w.backend, approach, devices: n, ok: false, detail: failure('online', r) };
      }
      const sequential = await this.tables();
      const sequentialBridge = await this.w.bridgeTable();
      await this.w.reset();
      await this.bulk(approach, k, devs);
      const bulk = await this.tables();
      if ((await this.w.bridgeTable()) !== sequentialBridge)
        return { backend: this.w.backend, approach, devices: n, ok: false, detail: `bridge table: bulk differs from sequential calls:\n${sequentialBridge}\n---\n${await this.w.bridgeTable()}` };
      const expected = this.expected(approach, k, devs);
      for (const f of FAMILIES) {
        if (exact(sequential[f]) !== exact(expected[f]))
          return { backend: this.w.backend, approach, devices: n, ok: false, detail: `IPv${f} sequential vs expected: ${firstDifference(exact(expected[f]), exact(sequential[f]))}` };
        if (exact(bulk[f]) !== exact(expected[f]))
          return { backend: this.w.backend, approach, devices: n, ok: false, detail: `IPv${f} bulk vs expected: ${firstDifference(exact(expected[f]), exact(bulk[f]))}` };
      }
      return { backend: this.w.backend, approach, devices: n, ok: true, detail: `${n} sequential calls and one bulk transaction leave identical tables` };
    } finally {
      await this.w.deleteLinks(devs);
      await this.w.reset();
    }
  }

  /** Median cost of single processes both approaches start: the fake xenstore's clients, iptables. */
  async toolCosts(reps: number): Promise<ToolCost[]> {
    const vif = this.w.fillVif(PROBE_DOMID, nameOf(PROBE_DOMID));
    const env = this.w.env();
    const jobs: [string, string, string[]][] = [
      ['xenstore-read (fake, bash)', 'xenstore-read', [`${vif.xenbusPath}/bridge`]],
      ['xenstore-write (fake, bash), 2 keys', 'xenstore-write', [`${vif.xenbusPath}/hotplug-status`, 'connected', `${vif.xenbusPath}/x`, '1']],
      ['iptables -w -S FORWARD', 'iptables', ['-w', '-S', 'FORWARD']],
      ['ip link show lo', 'ip', ['link', 'show', 'lo']],
    ];
    const out: ToolCost[] = [];
    for (const [what, cmd, args] of jobs) {
      const xs: number[] = [];
      for (let i = 0; i <= reps; i++) {
        const r = await this.w.runner.one({ cmd, args, env });
        if (r.code !== 0) throw new Error(failure(what, r));
        if (i > 0) xs.push(r.ms);
      }
      out.push({ backend: this.w.backend, what, ms: summarize(xs) });
    }
    return out;
  }

  /** The floor: a bare `node -e 0`, then one empty `iptables-restore --noflush`, on the current tables. */
  async floor(acc: FloorResult, reps: number): Promise<void> {
    const env = this.w.env();
    await this.w.runner.run([{ cmd: 'node', args: ['-e', '0'], env }]); // warm-up
    for (let i = 0; i < reps; i++) {
      const r = await this.w.runner.run([
        { cmd: 'node', args: ['-e', '0'], env },
        { cmd: 'iptables-restore', args: ['--noflush', '-w'], input: '*filter\nCOMMIT\n', env },
      ]);
      const [a, b] = r.results as [JobResult, JobResult];
      if (a.code !== 0 || b.code !== 0) throw new Error(failure('floor', a.code !== 0 ? a : b));
      acc.nodeMs.push(a.ms);
      acc.restoreMs.push(b.ms);
      acc.totalMs.push(a.ms + b.ms);
    }
    acc.node = summarize(acc.nodeMs);
    acc.restore = summarize(acc.restoreMs);
    acc.total = summarize(acc.totalMs);
  }

  /** An empty cell, filled by phase() calls (several blocks of rounds, interleaved with the other approach's). */
  newCell(approach: Approach, k: number, m: number): CellResult {
    return {
      backend: this.w.backend,
      approach,
      k,
      m,
      online: [],
      offline: [],
      onlineSummary: summarize([]),
      offlineSummary: summarize([]),
      rssKiB: { online: [], offline: [] },
      tableRules: { 4: 0, 6: 0 },
      preinstallMs: 0,
      preinstallVerified: false,
      clean: true,
      stoppedEarly: false,
      errors: [],
    };
  }

  newFloor(k: number, m: number): FloorResult {
    return { backend: this.w.backend, k, m, nodeMs: [], restoreMs: [], totalMs: [], node: summarize([]), restore: summarize([]), total: summarize([]) };
  }

  /**
   * One block of a cell: M background guests with K rules each installed (one bulk
   * transaction, checked rule for rule on the first block), one untimed warm-up round
   * (for the hook, also the peak-RSS probe, on the first block), then up to `reps` rounds
   * of online + offline of one more guest with K rules, each call timed alone; at least
   * `minReps`, then no more once `capMs` is spent. For the hook, the floor on the same
   * tables too. Checks that the tables are exactly as before once the rounds are done.
   */
  async phase(
    cell: CellResult,
    opts: { reps: number; minReps: number; capMs: number; first: boolean; floor?: { acc: FloorResult; reps: number }; hook?: string },
  ): Promise<void> {
    const { approach, k, m } = cell;
    const background = Array.from({ length: m }, (_, i) => devOf(1 + i));
    await this.w.reset();
    const ms = await this.bulk(approach, k, background);
    const before = await this.tables();
    if (opts.first) {
      cell.preinstallMs = ms;
      const expected = this.expected(approach, k, background);
      cell.preinstallVerified = FAMILIES.every((f) => exact(before[f]) === exact(expected[f]));
      if (!cell.preinstallVerified) cell.errors.push(`pre-install: ${firstDifference(exact(expected[4]), exact(before[4]))}`);
      cell.tableRules = { 4: ruleCount(before[4]), 6: ruleCount(before[6]) };
    }
    if (!this.probeLink) {
      await this.w.addLinks([devOf(PROBE_DOMID)]);
      this.probeLink = true;
    }
    const ports = portsFor(k);
    this.w.writeGuestConfig(nameOf(PROBE_DOMID), ports);
    const round = async (rss: boolean): Promise<[JobResult, JobResult]> => {
      const vif = this.w.fillVif(PROBE_DOMID, nameOf(PROBE_DOMID));
      const up = await this.w.runner.one(this.w.job(approach, 'online', vif, ports, rss, opts.hook));
      if (up.code !== 0) cell.errors.push(failure('online', up));
      const rssUp = rss ? this.w.takeRss() : [];
      this.w.prepareOffline(PROBE_DOMID);
      const down = await this.w.runner.one(this.w.job(approach, 'offline', vif, ports, rss, opts.hook));
      if (down.code !== 0) cell.errors.push(failure('offline', down));
      if (rss) {
        cell.rssKiB.online.push(...rssUp);
        cell.rssKiB.offline.push(...this.w.takeRss());
      }
      return [up, down];
    };
    await round(approach === 'hook' && opts.first);
    const started = Date.now();
    for (let i = 0; i < opts.reps && cell.errors.length === 0; i++) {
      if (i >= opts.minReps && Date.now() - started > opts.capMs) {
        cell.stoppedEarly = true;
        break;
      }
      const [up, down] = await round(false);
      cell.online.push(up.ms);
      cell.offline.push(down.ms);
    }
    const after = await this.tables();
    const clean = FAMILIES.every((f) => exact(after[f]) === exact(before[f]));
    if (!clean) {
      cell.clean = false;
      cell.errors.push(`not clean after offline: ${firstDifference(exact(before[4]), exact(after[4]))}`);
    }
    cell.onlineSummary = summarize(cell.online);
    cell.offlineSummary = summarize(cell.offline);
    if (opts.floor) await this.floor(opts.floor.acc, opts.floor.reps);
  }

  /**
   * Boot storm: `size` guests with K rules brought online all at once (one process each,
   * as libxl does for guests started together), then the resulting tables checked against
   * what `size` sequential calls would leave, every vif on the bridge and reported
   * connected; then all offline at once, and the tables back to where they were.
   */
  async storm(approach: Approach, k: number, size: number, run: number, hook?: string): Promise<StormResult> {
    const domids = Array.from({ length: size }, (_, i) => STORM_FIRST_DOMID + i);
    const devs = domids.map(devOf);
    await this.template(approach, k);
    await this.w.reset();
    if (this.stormLinks < size) {
      await this.w.addLinks(devs.slice(this.stormLinks));
      this.stormLinks = size;
    }
    const problems: string[] = [];
    const ports = portsFor(k);
    const vifs = domids.map((d) => {
      this.w.writeGuestConfig(nameOf(d), ports);
      return this.w.fillVif(d, nameOf(d));
    });
    const up = await this.w.runner.run(vifs.map((v) => ({ ...this.w.job(approach, 'online', v, ports, false, hook), timeoutMs: 60_000 })), true);
    up.results.forEach((r, i) => r.code !== 0 && problems.push(failure(`online ${devs[i]}`, r)));
    const got = await this.tables();
    const want = this.expected(approach, k, devs);
    for (const f of FAMILIES)
      if (canonical(got[f]) !== canonical(want[f])) problems.push(`IPv${f} rule set: ${firstDifference(canonical(want[f]), canonical(got[f]))}`);
    const masters = await this.w.masters();
    const unbridged = devs.filter((d) => masters.get(d) !== this.w.dom0.bridge);
    if (unbridged.length) problems.push(`${unbridged.length} vifs not on ${this.w.dom0.bridge}: ${unbridged.slice(0, 5).join(' ')}`);
    const unconnected = vifs.filter((v) => this.w.xs.read(`${v.backendPath}/hotplug-status`) !== 'connected');
    if (unconnected.length) problems.push(`${unconnected.length} vifs without hotplug-status=connected`);
    const correct = problems.length === 0;

    for (const d of domids) this.w.prepareOffline(d);
    const down = await this.w.runner.run(vifs.map((v) => ({ ...this.w.job(approach, 'offline', v, ports, false, hook), timeoutMs: 60_000 })), true);
    down.results.forEach((r, i) => r.code !== 0 && problems.push(failure(`offline ${devs[i]}`, r)));
    const gone = await this.tables();
    const base = { 4: this.w.baseTable(4), 6: this.w.baseTable(6) };
    let offlineClean = down.results.every((r) => r.code === 0);
    for (const f of FAMILIES)
      if (exact(gone[f]) !== exact(base[f])) {
        offlineClean = false;
        problems.push(`after offline, IPv${f}: ${firstDifference(exact(base[f]), exact(gone[f]))}`);
      }
    const stillBridged = [...(await this.w.masters())].filter(([d, m]) => devs.includes(d) && m !== undefined);
    if (stillBridged.length) {
      offlineClean = false;
      problems.push(`${stillBridged.length} vifs still on a bridge after offline`);
    }
    return {
      backend: this.w.backend,
      approach,
      run,
      size,
      k,
      onlineWallMs: up.wallMs,
      offlineWallMs: down.wallMs,
      onlineMaxCallMs: Math.max(...up.results.map((r) => r.ms)),
      correct,
      offlineClean,
      problems: problems.slice(0, 20),
    };
  }
}

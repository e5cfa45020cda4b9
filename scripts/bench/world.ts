import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createDom0, type Dom0 } from '../../test/support/netns.js';
import { FakeSysfs } from '../../test/support/hook.js';
import { FakeXenstore, fillVifLikeLibxl, prepareOfflineLikeLibxl, type FilledVif } from '../../test/support/xenstore.js';
import { BRIDGE_TABLE } from '../../src/compile/bridge.js';
import { parseSave, type Table } from './tables.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '../..');
export const RUNNER = join(HERE, 'runner.mjs');
export const RSS_PROBE = join(HERE, 'rss-probe.cjs');
export const BASELINE = join(ROOT, 'scripts/baseline-vif.sh');
/** The same protection as vif-firewall, the per-rule way (iptables, ip6tables, ebtables). */
export const BASELINE_SAME = join(ROOT, 'scripts/baseline-same.sh');

export type Backend = 'nft' | 'legacy';

/** The MAC libxl would give the guest with this domid here (xenstore `mac`). */
export function macOf(domid: number): string {
  return `00:16:3e:${[domid >> 16, domid >> 8, domid].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`;
}
/** baseline: the minimal per-rule reference; same: the same protection as the hook, per rule; hook: vif-firewall. */
export type Approach = 'baseline' | 'same' | 'hook';
export type Family = 4 | 6;

export interface Job {
  cmd: string;
  args?: string[];
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface JobResult {
  ms: number;
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** The in-netns stopwatch (runner.mjs): a JSON line protocol over its stdin/stdout. */
export class Runner {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (a: { wallMs: number; results: JobResult[] }) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;

  private constructor(private readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let msg: { id?: number; wallMs: number; results: JobResult[]; error?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(`runner: ${msg.error}`));
      else p.resolve(msg);
    });
    proc.on('exit', (code, signal) => {
      this.dead = new Error(`the bench's runner in the dom0 netns exited (${code ?? signal})`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    });
  }

  static async start(netns: string): Promise<Runner> {
    const proc = spawn('ip', ['netns', 'exec', netns, process.execPath, RUNNER], { stdio: ['pipe', 'pipe', 'inherit'] });
    const ready = await new Promise<boolean>((res) => {
      const timer = setTimeout(() => res(false), 10_000);
      proc.stdout!.once('data', (d: Buffer) => {
        clearTimeout(timer);
        res(d.toString().includes('ready'));
      });
      proc.once('exit', () => res(false));
    });
    if (!ready) {
      proc.kill('SIGKILL');
      throw new Error(`could not start ${RUNNER} in netns ${netns}`);
    }
    return new Runner(proc);
  }

  run(jobs: Job[], parallel = false): Promise<{ wallMs: number; results: JobResult[] }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.stdin!.write(`${JSON.stringify({ id, jobs, parallel })}\n`);
    });
  }

  async one(job: Job): Promise<JobResult> {
    return (await this.run([job])).results[0]!;
  }

  /** Like one(), but a non-zero exit throws with the command's stderr. */
  async must(job: Job): Promise<JobResult> {
    const r = await this.one(job);
    if (r.code !== 0) throw new Error(`${[job.cmd, ...(job.args ?? [])].join(' ')} failed (${r.code}${r.signal ? ` ${r.signal}` : ''}): ${r.stderr.trim()}`);
    return r;
  }

  stop(): void {
    this.proc.stdin?.end();
    setTimeout(() => this.proc.kill('SIGKILL'), 2000).unref();
  }
}

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];
/** What the hook and the baseline call by name: a symlink to the chosen backend's binary for each, first on PATH. */
const TOOLS = ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore'];

export interface WorldOptions {
  backend: Backend;
  /** The hook file to run (dist/vif-firewall). */
  hook: string;
}

/**
 * One simulated dom0 for one iptables backend: a netns with a bridge (test/support/netns.ts),
 * a fake xenstore filled as libxl fills it, the hook's settings, somebody else's rules
 * (ADMIN, never to be touched), and the runner. Tools are picked by PATH, never by
 * update-alternatives: the host is not changed.
 */
export class World {
  readonly xs: FakeXenstore;
  readonly configDir: string;
  readonly stateDir: string;
  readonly settingsFile: string;
  readonly logFile: string;
  readonly binDir: string;
  readonly rssFile: string;
  /** Netback's device identities for the veths that stand in for vifs (the hook checks them). */
  private readonly sysfs: FakeSysfs;
  /** The filter tables with nothing of ours, as iptables-save prints them (restored by reset()). */
  private base: Record<Family, string> = { 4: '', 6: '' };
  private constructor(
    readonly opts: WorldOptions,
    readonly dom0: Dom0,
    readonly runner: Runner,
  ) {
    this.xs = new FakeXenstore(join(dom0.tmpDir, 'xenstore'));
    this.xs.write('/local/domain/0/name', 'Domain-0');
    this.xs.write('/local/domain/0/domid', '0');
    this.configDir = join(dom0.tmpDir, 'xen');
    this.stateDir = join(dom0.tmpDir, 'run');
    this.logFile = join(dom0.tmpDir, 'xen-hotplug.log');
    this.settingsFile = join(dom0.tmpDir, 'vif-firewall.conf');
    this.binDir = join(dom0.tmpDir, `bin-${opts.backend}`);
    this.rssFile = join(dom0.tmpDir, 'rss.txt');
    this.sysfs = new FakeSysfs(dom0, join(dom0.tmpDir, 'sysfs'));
    mkdirSync(this.configDir, { recursive: true });
    mkdirSync(this.binDir, { recursive: true });
    for (const tool of TOOLS) symlinkSync(`/usr/sbin/${tool.replace(/^(ip6?tables)/, `$1-${opts.backend}`)}`, join(this.binDir, tool));
    writeFileSync(
      this.settingsFile,
      `config_dirs = [ "${this.configDir}" ]\nlog_file = "${this.logFile}"\nstate_dir = "${this.stateDir}"\nsyslog = 0\n`,
    );
  }

  get backend(): Backend {
    return this.opts.backend;
  }

  static async create(opts: WorldOptions): Promise<World> {
    const dom0 = await createDom0();
    let runner: Runner | undefined;
    try {
      runner = await Runner.start(dom0.name);
      const w = new World(opts, dom0, runner);
      const version = (await runner.must({ cmd: 'iptables', args: ['--version'], env: w.env() })).stdout;
      const want = opts.backend === 'nft' ? 'nf_tables' : 'legacy';
      if (!version.includes(want)) throw new Error(`backend ${opts.backend}: PATH gives ${version.trim()}`);
      // Somebody else's rules, as in test/support/hook.ts: they must survive every call untouched.
      for (const tool of ['iptables', 'ip6tables']) {
        await runner.must({ cmd: tool, args: ['-w', '-N', 'ADMIN'], env: w.env() });
        await runner.must({ cmd: tool, args: ['-w', '-A', 'ADMIN', '-p', 'tcp', '--dport', '9', '-j', 'DROP'], env: w.env() });
        await runner.must({ cmd: tool, args: ['-w', '-A', 'FORWARD', '-j', 'ADMIN'], env: w.env() });
      }
      w.base = { 4: await w.saveText(4), 6: await w.saveText(6) };
      return w;
    } catch (e) {
      runner?.stop();
      await dom0.destroy();
      throw e;
    }
  }

  /**
   * PATH and the fake xenstore: the environment both approaches run with, as libxl's children.
   * The hook keeps its code cache in its state dir, as it does by default (/run/vif-firewall).
   */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return { PATH: [this.binDir, this.xs.binDir, ...SBIN].join(':'), XENSTORE_ROOT: this.xs.root, VIF_FIREWALL_CODE_CACHE: this.stateDir, ...extra };
  }

  async saveText(family: Family): Promise<string> {
    return (await this.runner.must({ cmd: family === 4 ? 'iptables-save' : 'ip6tables-save', args: ['-t', 'filter'], env: this.env() })).stdout;
  }

  async table(family: Family): Promise<Table> {
    return parseSave(await this.saveText(family));
  }

  baseTable(family: Family): Table {
    return parseSave(this.base[family]);
  }

  /** Back to the base tables (ours all gone, ADMIN there) in one transaction per family, no bridge table of ours, and no state records. */
  async reset(): Promise<void> {
    for (const family of [4, 6] as const)
      await this.runner.must({ cmd: family === 4 ? 'iptables-restore' : 'ip6tables-restore', args: ['-w'], input: this.base[family], env: this.env(), timeoutMs: 120_000 });
    if (await this.bridgeTable()) await this.nftScript(`delete table bridge ${BRIDGE_TABLE}\n`);
    // The same-protection reference's ebtables chains (this netns's ebtables table is the bench's own).
    await this.runner.must({ cmd: 'ebtables', args: ['--concurrent', '--init-table'], env: this.env() });
    rmSync(join(this.stateDir, 'vifs'), { recursive: true, force: true });
  }

  /** The hook's nft bridge table (anti-spoofing) as `nft list` prints it; '' when there is none. */
  async bridgeTable(): Promise<string> {
    const r = await this.runner.one({ cmd: 'nft', args: ['list', 'table', 'bridge', BRIDGE_TABLE], env: this.env() });
    return r.code === 0 ? r.stdout : '';
  }

  /** One nft transaction; returns its time. */
  async nftScript(text: string): Promise<number> {
    return (await this.runner.must({ cmd: 'nft', args: ['-f', '-'], input: text, env: this.env(), timeoutMs: 300_000 })).ms;
  }

  async restoreNoflush(family: Family, text: string): Promise<number> {
    const r = await this.runner.must({
      cmd: family === 4 ? 'iptables-restore' : 'ip6tables-restore',
      args: ['--noflush', '-w'],
      input: text,
      env: this.env(),
      timeoutMs: 300_000,
    });
    return r.ms;
  }

  /** Bare veth pairs stand in for netback's vifs (only the dom0 end matters), as test/e2e/concurrency.test.ts does. */
  async addLinks(devs: readonly string[]): Promise<void> {
    if (devs.length === 0) return;
    // vif2001.0 ⇄ p2001_0 (names ≤ 15 characters); the dom0 end has netback's MAC.
    const lines = devs.map((d) => `link add ${d} address fe:ff:ff:ff:ff:ff type veth peer name p${d.replace(/^vif/, '').replace('.', '_')}`);
    await this.runner.must({ cmd: 'ip', args: ['-batch', '-'], input: `${lines.join('\n')}\n`, env: this.env() });
    // The hook acts only on netback devices: the veths get netback's identity, as in the tests.
    await this.sysfs.sync();
  }

  async deleteLinks(devs: readonly string[]): Promise<void> {
    if (devs.length === 0) return;
    await this.runner.one({ cmd: 'ip', args: ['-force', '-batch', '-'], input: `${devs.map((d) => `link del ${d}`).join('\n')}\n`, env: this.env() });
  }

  /** Bridge master of each device, from `ip -j link`. */
  async masters(): Promise<Map<string, string | undefined>> {
    const r = await this.runner.must({ cmd: 'ip', args: ['-j', 'link', 'show'], env: this.env() });
    const links = JSON.parse(r.stdout) as { ifname: string; master?: string }[];
    return new Map(links.map((l) => [l.ifname, l.master]));
  }

  /** A guest whose `firewall` lets in `ports` (one rule each), as an xl config in the config dir. */
  writeGuestConfig(name: string, ports: readonly number[]): void {
    const rules = ports.map((p) => `  "allow in tcp ${p}",`).join('\n');
    writeFileSync(join(this.configDir, `${name}.cfg`), `name = "${name}"\nfirewall = [\n${rules}\n]\n`);
  }

  /** What libxl has written in xenstore when it runs online for vif<domid>.0. */
  fillVif(domid: number, name: string): FilledVif {
    return fillVifLikeLibxl(this.xs, {
      domid,
      devid: 0,
      name,
      mac: macOf(domid),
      script: '/etc/xen/scripts/vif-firewall',
    });
  }

  prepareOffline(domid: number): void {
    prepareOfflineLikeLibxl(this.xs, domid, 0);
  }

  /** The job libxl runs: `<script> online|offline type_if=vif` with its hotplug environment. */
  job(approach: Approach, command: 'online' | 'offline', vif: FilledVif, ports: readonly number[], rss = false, hook = this.opts.hook): Job {
    if (approach === 'hook') {
      const extra: Record<string, string> = { VIF_FIREWALL_CONF: this.settingsFile, VIF_FIREWALL_SYSFS: this.sysfs.root, ...vif.env };
      if (rss) Object.assign(extra, { NODE_OPTIONS: `--require ${RSS_PROBE}`, BENCH_RSS_FILE: this.rssFile });
      return { cmd: hook, args: [command, 'type_if=vif'], env: this.env(extra) };
    }
    return { cmd: approach === 'same' ? BASELINE_SAME : BASELINE, args: [command, 'type_if=vif'], env: this.env({ ...vif.env, BASELINE_PORTS: ports.join(' ') }) };
  }

  /** Peak RSS (KiB) lines the probe wrote since the last call, emptied. */
  takeRss(): number[] {
    let text = '';
    try {
      text = readFileSync(this.rssFile, 'utf8');
    } catch {
      return [];
    }
    rmSync(this.rssFile, { force: true });
    return text
      .split('\n')
      .map((l) => Number(l.split(' ')[1]))
      .filter((n) => Number.isFinite(n) && n > 0);
  }

  async destroy(): Promise<void> {
    this.runner.stop();
    await this.dom0.destroy();
  }
}

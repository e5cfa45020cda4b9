import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync, type Options, type ResultPromise } from 'execa';

/**
 * A simulated Xen dom0 in network namespaces, for end-to-end tests with real packets.
 *
 *   dom0 netns (vfwt-<id>-dom0): bridge xenbr0 (STP off), br_netfilter on (bridge-nf-call-
 *   iptables/ip6tables=1, set inside this netns), IPv6 on, DAD off, no forwarding.
 *     ├─ addHost('uplink', …): netns vfwt-<id>-uplink, its eth0 ⇄ veth `h-uplink` in dom0,
 *     │  attached to the bridge and up (an unmanaged bridge port); with `bridge`, to another
 *     │  bridge made by addBridge(); with `routedVia`, on no bridge at all: its dom0 end
 *     │  carries dom0's addresses and dom0 routes to it (Dom0Options.forwarding).
 *     └─ addGuest('george', { dom0Dev: 'vif2.0', … }): netns vfwt-<id>-george, its eth0
 *        (up, addressed) ⇄ veth `vif2.0` in dom0, left DOWN, unattached, MTU untouched and
 *        MAC fe:ff:ff:ff:ff:ff: what netback hands to a hotplug script (attach: true bridges
 *        it at once, for an unmanaged guest).
 * Nothing is done in the host's own netns: links are created inside the namespaces
 * (`ip -n`), sysctls and iptables run through `ip netns exec`. The only host-wide effects
 * are `ip netns add` (a file in /run/netns) and, on a fresh machine, `modprobe br_netfilter`.
 *
 * Probes send real packets and are bounded: a blocked TCP port or ping is detected in
 * about 1 s (nc -z -w 1, ping -W 1), UDP in 1 s of polling the listener's log.
 *
 * Cleanup: every dom0 (and every netns, listener and process it made) is registered at
 * module level. Use ONE of:
 *   - `afterEach(destroyAllDom0s)` (or afterAll, for a dom0 shared by a describe block)
 *     in the test file, with createDom0() in the tests;
 *   - `await withDom0(async (dom0) => { … })`, which destroys it even when fn throws.
 * A `process.on('exit')` hook deletes whatever is left if a worker ends without that, and
 * createDom0() reaps namespaces left by earlier processes that died (kill -9).
 *
 * e2e files guard themselves with `describe.skipIf(!requireRoot())(…)`.
 */

/** True when running as root (network namespaces, iptables and bridges need it). */
export const isRoot: boolean = typeof process.getuid === 'function' && process.getuid() === 0;

/** For `describe.skipIf(!requireRoot())`: warns loudly when the e2e tests will be skipped. */
export function requireRoot(what = 'end-to-end tests'): boolean {
  if (!isRoot) {
    console.warn(
      `\n*** SKIPPED e2e: ${what} need root (network namespaces, bridges, iptables). Run as root: sudo npm test ***\n`,
    );
  }
  return isRoot;
}

const LISTENER = join(dirname(fileURLToPath(import.meta.url)), 'listener.mjs');
const PREFIX = 'vfwt-';
/** What netback gives every vif in dom0. */
export const NETBACK_MAC = 'fe:ff:ff:ff:ff:ff';

// ---------------------------------------------------------------------------------------
// Types

export interface Netns {
  /** The netns name (`ip netns list`). */
  readonly name: string;
  /** 'dom0', or the name given to addHost/addGuest. */
  readonly label: string;
  /**
   * Runs `cmd args` inside this netns (`ip netns exec`), with execa's options and result.
   * /usr/sbin and /sbin are appended to PATH (opts.env.PATH or the current one) when missing.
   */
  exec<O extends Options = {}>(cmd: string, args?: readonly string[], opts?: O): ResultPromise<O>;
}

export interface Dom0Options {
  /** Bridge name, default xenbr0. */
  bridge?: string;
  /** Addresses for dom0 itself on the bridge (CIDR), none by default. */
  ipv4?: string;
  ipv6?: string;
  /** net.ipv4.ip_forward and net.ipv6.conf.all.forwarding in dom0 (default false: bridging needs neither). */
  forwarding?: boolean;
}

export interface PeerOptions {
  /** CIDR, e.g. 192.0.2.1/24 (a bare address gets /24). */
  ipv4: string;
  /** CIDR, e.g. 2001:db8::1/64 (a bare address gets /64). Added with nodad. */
  ipv6?: string;
  /** MAC of the peer's eth0; default guestMac(D, N) for a guest on vifD.N, else 00:16:3e:xx:xx:xx, and 02:xx:… for a host. */
  mac?: string;
  /** Default routes inside the peer's netns. */
  gateway4?: string;
  gateway6?: string;
}

export interface HostOptions extends PeerOptions {
  /** Name of its bridge port in dom0 (≤ 15 chars); default `h-<name>`. */
  dom0Dev?: string;
  /** The bridge it is a port of (one made by addBridge); default the dom0's own bridge. */
  bridge?: string;
  /**
   * A routed host instead of a bridged one: its dom0 end stays off every bridge and carries
   * these addresses of dom0 (CIDR), like a second NIC or a VPN; with Dom0Options.forwarding,
   * dom0 routes between it and the bridges.
   */
  routedVia?: { ipv4: string; ipv6?: string };
}

export interface BridgeOptions {
  /** Addresses for dom0 itself on the bridge (CIDR), none by default. */
  ipv4?: string;
  ipv6?: string;
}

export interface GuestOptions extends PeerOptions {
  /** Name of its veth end in dom0, standing in for netback's vif, e.g. vif2.0 (≤ 15 chars). */
  dom0Dev: string;
  /** Bridge and bring up the dom0 end at once (an unmanaged guest). Default false: DOWN, unattached. */
  attach?: boolean;
  /** MAC of the dom0 end; default fe:ff:ff:ff:ff:ff like netback. */
  dom0Mac?: string;
}

export interface Peer extends Netns {
  readonly kind: 'host' | 'guest';
  readonly dom0: Dom0;
  /** Its interface inside its own netns: always eth0. */
  readonly dev: string;
  /** Its veth end in dom0 (the bridge port / the "vif"). */
  readonly dom0Dev: string;
  readonly mac: string;
  /** Addresses without prefix, and as given (CIDR). */
  readonly ipv4: string;
  readonly ipv6: string | undefined;
  readonly cidr4: string;
  readonly cidr6: string | undefined;
  /** Deletes the veth pair, as netback removes a vif at domain destruction. Idempotent. */
  unplug(): Promise<void>;
}
export type Host = Peer;
export type Guest = Peer;

export interface LinkInfo {
  name: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  operstate: string;
  mtu: number;
  mac: string;
  /** Bridge (or other master) it is enslaved to. */
  master: string | undefined;
}

export interface Dom0 extends Netns {
  readonly id: string;
  readonly bridge: string;
  /** Every netns this dom0 made (its own first). */
  readonly namespaces: readonly string[];
  /** A scratch directory for this dom0, deleted by destroy(). */
  readonly tmpDir: string;
  readonly hosts: readonly Peer[];
  readonly guests: readonly Peer[];
  readonly destroyed: boolean;
  addHost(name: string, opts: HostOptions): Promise<Peer>;
  addGuest(name: string, opts: GuestOptions): Promise<Peer>;
  /** Another bridge in dom0 (STP off, snooping off, up), e.g. xenbr1 for a second guest network. */
  addBridge(name: string, opts?: BridgeOptions): Promise<void>;
  /** A link in dom0 (`ip -d -j link show`), undefined when it does not exist. */
  link(dev: string): Promise<LinkInfo | undefined>;
  /** A sysctl's value inside dom0, e.g. net.bridge.bridge-nf-call-iptables. */
  sysctl(key: string): Promise<string>;
  /**
   * `iptables-save` / `ip6tables-save` in dom0 without `#` comment lines and without
   * counters, so two snapshots compare byte for byte.
   */
  iptablesSave(family: 4 | 6): Promise<string>;
  /** Kills every process in its namespaces, deletes them and tmpDir. Idempotent. */
  destroy(): Promise<void>;
}

export interface ListenOptions {
  /** 4, 6, or 46 = both (one dual-stack socket). Default 46. */
  family?: 4 | 6 | 46;
}

export interface Listener {
  readonly ns: Netns;
  readonly proto: 'tcp' | 'udp';
  readonly port: number;
  /** Everything received so far, concatenated (latin1). */
  received(): string;
  /** Source addresses seen so far (TCP connects and data, UDP datagrams), v4-mapped ones unmapped. */
  peers(): string[];
  stop(): Promise<void>;
}

export interface HeldConnection {
  /** False once nc has exited (reset, closed, killed). */
  readonly open: boolean;
  /**
   * Sends a fresh token: true when the listener received it AND its echo came back within
   * timeoutMs (default 1000). A blocked flow returns false; TCP retransmits the token later,
   * so after unblocking allow for the retransmission backoff (≈ 3 s).
   */
  flows(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Helpers

function withSbin(path: string | undefined): string {
  const parts = (path ?? '').split(delimiter).filter(Boolean);
  for (const p of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin']) {
    if (!parts.includes(p)) parts.push(p);
  }
  return parts.join(delimiter);
}

const TOOL_ENV = { PATH: withSbin(process.env.PATH) };

function toolOptions<O extends Options>(opts: O | undefined): O {
  const env = (opts?.env ?? {}) as Record<string, string | undefined>;
  return { ...opts, env: { ...env, PATH: withSbin(env.PATH ?? process.env.PATH) } } as unknown as O;
}

/** Runs a command in the host context (only ever `ip netns …` / `ip -n …`): throws on failure. */
async function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await execa(cmd, args, { env: TOOL_ENV, reject: false, ...(input === undefined ? { stdin: 'ignore' as const } : { input }) });
  if (r.exitCode !== 0) {
    throw new Error(`${[cmd, ...args].join(' ')} failed (${r.exitCode ?? r.signal ?? r.shortMessage}): ${String(r.stderr).trim()}`);
  }
  return String(r.stdout);
}

/** Runs a bash script inside a netns (set -euo pipefail). */
function nsScript(ns: string, script: string): Promise<string> {
  return run('ip', ['netns', 'exec', ns, 'bash', '-euo', 'pipefail', '-c', script]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
/**
 * The MAC a guest of domain domid gets on vif devid here, so that a guest made with addGuest
 * carries the MAC fillVif writes to xenstore `mac` (the anti-spoofing checks hold it to that).
 */
export const guestMac = (domid: number, devid: number): string =>
  `00:16:3e:00:${(domid & 0xff).toString(16).padStart(2, '0')}:${(devid & 0xff).toString(16).padStart(2, '0')}`;

/** guestMac of a dom0 end named like netback's vif (vif2.0, vif4.0-emu). */
function vifMacOf(dom0Dev: string): string | undefined {
  const m = /^vif(\d+)\.(\d+)/.exec(dom0Dev);
  return m ? guestMac(Number(m[1]), Number(m[2])) : undefined;
}

const randomMac = (prefix: string, n: number): string =>
  [prefix, ...Array.from(randomBytes(n), (b) => b.toString(16).padStart(2, '0'))].join(':');

function checkIfName(name: string): string {
  if (!/^[^\s/:]{1,15}$/.test(name) || name === '.' || name === '..') {
    throw new Error(`invalid interface name ${JSON.stringify(name)} (1-15 chars, no space, '/' or ':')`);
  }
  return name;
}

function splitCidr(cidr: string, defPrefix: number): { addr: string; cidr: string } {
  const [addr, prefix] = cidr.split('/');
  if (!addr) throw new Error(`bad address ${JSON.stringify(cidr)}`);
  return { addr, cidr: `${addr}/${prefix ?? defPrefix}` };
}

/** `ip addr add` lines for dom0's own addresses on one of its links. */
function addressLines(dev: string, opts: BridgeOptions): string {
  return [
    opts.ipv4 ? `ip addr add ${q(splitCidr(opts.ipv4, 24).cidr)} dev ${q(dev)}` : '',
    opts.ipv6 ? `ip addr add ${q(splitCidr(opts.ipv6, 64).cidr)} dev ${q(dev)} nodad` : '',
  ].join('\n');
}

/** Sysctls every netns gets, before any of its links exist (new links inherit `default`). */
const NS_SYSCTLS = [
  'net.ipv6.conf.all.disable_ipv6=0',
  'net.ipv6.conf.default.disable_ipv6=0',
  'net.ipv6.conf.all.accept_dad=0',
  'net.ipv6.conf.default.accept_dad=0',
  'net.ipv6.conf.all.accept_ra=0',
  'net.ipv6.conf.default.accept_ra=0',
];

async function nsPids(ns: string): Promise<number[]> {
  const r = await execa('ip', ['netns', 'pids', ns], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
  return String(r.stdout).split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 0 && n !== process.pid);
}

function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

async function deleteNetns(ns: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const pids = await nsPids(ns);
    if (pids.length === 0) break;
    killPids(pids);
    await sleep(25);
  }
  await execa('ip', ['netns', 'del', ns], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
}

function deleteNetnsSync(ns: string): void {
  try {
    const r = execaSync('ip', ['netns', 'pids', ns], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
    killPids(String(r.stdout).split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 0 && n !== process.pid));
    execaSync('ip', ['netns', 'del', ns], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
  } catch {
    /* best effort at exit */
  }
}

/** `ip netns list` names. */
export async function listNetns(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

// ---------------------------------------------------------------------------------------
// Module-level registry and cleanup

const live = new Set<Dom0Impl>();
const listeners = new Set<ListenerImpl>();
let exitHook = false;
let prepared: Promise<void> | undefined;

function ownerFile(id: string): string {
  return join(tmpdir(), `${PREFIX}${id}`, 'owner');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes vfwt- namespaces whose creating process is dead (a worker killed before cleanup). */
async function reapStale(): Promise<void> {
  const byId = new Map<string, string[]>();
  for (const ns of await listNetns()) {
    const m = /^vfwt-([0-9a-f]{6})-/.exec(ns);
    if (m?.[1]) byId.set(m[1], [...(byId.get(m[1]) ?? []), ns]);
  }
  for (const [id, names] of byId) {
    let pid: number;
    try {
      pid = Number(readFileSync(ownerFile(id), 'utf8').trim());
    } catch {
      continue; // unknown owner: leave it alone
    }
    if (!pid || pid === process.pid || pidAlive(pid)) continue;
    for (const ns of names) await deleteNetns(ns);
    rmSync(dirname(ownerFile(id)), { recursive: true, force: true });
  }
}

async function prepareOnce(): Promise<void> {
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    await execa('modprobe', ['br_netfilter'], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
  }
  await reapStale();
}

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const d of live) d.destroySync();
  });
}

/** Destroys every dom0 this process created and has not destroyed yet (for afterEach/afterAll). */
export async function destroyAllDom0s(): Promise<void> {
  await Promise.all([...live].map((d) => d.destroy()));
}

// ---------------------------------------------------------------------------------------
// Namespaces

class Ns implements Netns {
  constructor(
    readonly name: string,
    readonly label: string,
    readonly world: Dom0Impl,
  ) {}

  exec<O extends Options = {}>(cmd: string, args: readonly string[] = [], opts?: O): ResultPromise<O> {
    return execa('ip', ['netns', 'exec', this.name, cmd, ...args], toolOptions(opts)) as unknown as ResultPromise<O>;
  }
}

class PeerImpl extends Ns implements Peer {
  readonly dev = 'eth0';
  private gone = false;

  constructor(
    name: string,
    label: string,
    world: Dom0Impl,
    readonly kind: 'host' | 'guest',
    readonly dom0Dev: string,
    readonly mac: string,
    private readonly a4: { addr: string; cidr: string },
    private readonly a6: { addr: string; cidr: string } | undefined,
  ) {
    super(name, label, world);
  }

  get dom0(): Dom0 {
    return this.world;
  }
  get ipv4(): string {
    return this.a4.addr;
  }
  get cidr4(): string {
    return this.a4.cidr;
  }
  get ipv6(): string | undefined {
    return this.a6?.addr;
  }
  get cidr6(): string | undefined {
    return this.a6?.cidr;
  }

  async unplug(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    await execa('ip', ['-n', this.world.name, 'link', 'del', this.dom0Dev], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
  }
}

class Dom0Impl extends Ns implements Dom0 {
  readonly bridge: string;
  readonly namespaces: string[] = [];
  readonly tmpDir: string;
  readonly hosts: Peer[] = [];
  readonly guests: Peer[] = [];
  readonly procs = new Set<ResultPromise<Options>>();
  destroyed = false;
  private destroying: Promise<void> | undefined;
  private readonly labels = new Set<string>();

  constructor(
    readonly id: string,
    private readonly opts: Dom0Options,
  ) {
    super(`${PREFIX}${id}-dom0`, 'dom0', undefined as unknown as Dom0Impl);
    (this as { world: Dom0Impl }).world = this;
    this.bridge = checkIfName(opts.bridge ?? 'xenbr0');
    this.tmpDir = dirname(ownerFile(id));
  }

  async init(): Promise<void> {
    mkdirSync(this.tmpDir, { recursive: true });
    writeFileSync(ownerFile(this.id), `${process.pid}\n`);
    await this.addNetns(this.name);
    const fwd = this.opts.forwarding ? 1 : 0;
    await nsScript(
      this.name,
      `
      ip link set lo up
      sysctl -qw ${NS_SYSCTLS.join(' ')} net.ipv4.ip_forward=${fwd} net.ipv6.conf.all.forwarding=${fwd}
      if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
        echo "br_netfilter is not available in this netns (modprobe br_netfilter failed?)" >&2; exit 1
      fi
      sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
      `,
    );
    await this.addBridge(this.bridge, this.opts);
  }

  async addBridge(name: string, opts: BridgeOptions = {}): Promise<void> {
    this.assertLive();
    await nsScript(
      this.name,
      `
      ip link add ${q(checkIfName(name))} type bridge stp_state 0 forward_delay 0 mcast_snooping 0
      ip link set ${q(name)} up
      ${addressLines(name, opts)}
      `,
    );
  }

  private async addNetns(name: string): Promise<void> {
    this.namespaces.push(name); // registered first: a half-made netns is still cleaned up
    await run('ip', ['netns', 'add', name]);
  }

  private assertLive(): void {
    if (this.destroyed) throw new Error(`dom0 ${this.name} is destroyed`);
  }

  private async addPeer(
    kind: 'host' | 'guest',
    label: string,
    o: PeerOptions,
    dom0Dev: string,
    dom0Mac: string | undefined,
    attach: boolean,
    bridge = this.bridge,
    routedVia?: BridgeOptions,
  ): Promise<Peer> {
    this.assertLive();
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(label)) throw new Error(`bad ${kind} name ${JSON.stringify(label)}`);
    if (this.labels.has(label) || label === 'dom0') throw new Error(`${kind} name ${label} already used in this dom0`);
    this.labels.add(label);
    checkIfName(dom0Dev);
    const a4 = splitCidr(o.ipv4, 24);
    const a6 = o.ipv6 === undefined ? undefined : splitCidr(o.ipv6, 64);
    const mac = o.mac ?? (kind === 'guest' ? vifMacOf(dom0Dev) ?? randomMac('00:16:3e', 3) : randomMac('02', 5));
    const name = `${PREFIX}${this.id}-${label}`;
    await this.addNetns(name);
    await nsScript(name, `ip link set lo up; sysctl -qw ${NS_SYSCTLS.join(' ')}`);
    await nsScript(
      this.name,
      `
      ip link add ${q(dom0Dev)} ${dom0Mac ? `address ${q(dom0Mac)}` : ''} type veth peer name eth0 address ${q(mac)} netns ${q(name)}
      ${attach && !routedVia ? `ip link set ${q(dom0Dev)} master ${q(bridge)}; ip link set ${q(dom0Dev)} up` : ''}
      ${routedVia ? `ip link set ${q(dom0Dev)} up; ${addressLines(dom0Dev, routedVia)}` : ''}
      `,
    );
    await nsScript(
      name,
      `
      ip link set eth0 up
      ip addr add ${q(a4.cidr)} dev eth0
      ${a6 ? `ip addr add ${q(a6.cidr)} dev eth0 nodad` : ''}
      ${o.gateway4 ? `ip route add default via ${q(o.gateway4)}` : ''}
      ${o.gateway6 ? `ip -6 route add default via ${q(o.gateway6)}` : ''}
      `,
    );
    const peer = new PeerImpl(name, label, this, kind, dom0Dev, mac, a4, a6);
    (kind === 'host' ? this.hosts : this.guests).push(peer);
    return peer;
  }

  addHost(name: string, opts: HostOptions): Promise<Peer> {
    return this.addPeer('host', name, opts, opts.dom0Dev ?? `h-${name}`.slice(0, 15), undefined, true, opts.bridge, opts.routedVia);
  }

  addGuest(name: string, opts: GuestOptions): Promise<Peer> {
    return this.addPeer('guest', name, opts, opts.dom0Dev, opts.dom0Mac ?? NETBACK_MAC, opts.attach ?? false);
  }

  async link(dev: string): Promise<LinkInfo | undefined> {
    const r = await execa('ip', ['-n', this.name, '-d', '-j', 'link', 'show', 'dev', dev], { env: TOOL_ENV, reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) return undefined;
    const [l] = JSON.parse(String(r.stdout)) as {
      ifname: string;
      flags: string[];
      operstate: string;
      mtu: number;
      address: string;
      master?: string;
    }[];
    if (!l) return undefined;
    return { name: l.ifname, up: l.flags.includes('UP'), operstate: l.operstate, mtu: l.mtu, mac: l.address, master: l.master };
  }

  async sysctl(key: string): Promise<string> {
    return (await nsScript(this.name, `sysctl -n ${q(key)}`)).trim();
  }

  async iptablesSave(family: 4 | 6): Promise<string> {
    const out = await nsScript(this.name, family === 4 ? 'iptables-save' : 'ip6tables-save');
    // nft backend: a netns where no rule was ever added has no table at all, so '' here;
    // once a table exists it stays (with empty chains) after its rules are deleted.
    return out
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => `${l.replace(/\s*\[\d+:\d+\]\s*$/, '').replace(/^\[\d+:\d+\]\s+/, '')}\n`)
      .join('');
  }

  /** Registers a background process (killed at destroy). */
  track(p: ResultPromise<Options>): void {
    this.procs.add(p);
    void p.then(() => this.procs.delete(p));
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    this.destroyed = true;
    for (const l of listeners) if (l.world === this) listeners.delete(l);
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.allSettled([...this.procs]);
    // Peers first, then dom0; each: kill what runs in it, delete it.
    await Promise.all(this.namespaces.slice(1).map((ns) => deleteNetns(ns)));
    if (this.namespaces[0]) await deleteNetns(this.namespaces[0]);
    rmSync(this.tmpDir, { recursive: true, force: true });
    live.delete(this);
  }

  /** process.on('exit') fallback: synchronous, best effort. */
  destroySync(): void {
    this.destroyed = true;
    for (const p of this.procs) p.kill('SIGKILL');
    for (const ns of [...this.namespaces].reverse()) deleteNetnsSync(ns);
    rmSync(this.tmpDir, { recursive: true, force: true });
    live.delete(this);
  }
}

/**
 * A new simulated dom0 (see the top of this file). Register cleanup in the test file:
 * `afterEach(destroyAllDom0s)`, or use withDom0.
 */
export async function createDom0(opts: Dom0Options = {}): Promise<Dom0> {
  prepared ??= prepareOnce();
  await prepared;
  installExitHook();
  let d: Dom0Impl;
  do d = new Dom0Impl(hex(3), opts);
  while (existsSync(d.tmpDir));
  live.add(d);
  try {
    await d.init();
  } catch (e) {
    await d.destroy();
    throw e;
  }
  return d;
}

/** Runs fn with a fresh dom0 and destroys it afterwards, also when fn throws. */
export async function withDom0<T>(fn: (dom0: Dom0) => Promise<T>, opts: Dom0Options = {}): Promise<T> {
  const d = await createDom0(opts);
  try {
    return await fn(d);
  } finally {
    await d.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// Probes

function impl(ns: Netns): Ns {
  if (!(ns instanceof Ns)) throw new Error('expected a dom0, host or guest made by test/support/netns.ts');
  if (ns.world.destroyed) throw new Error(`netns ${ns.name} is destroyed`);
  return ns;
}

class ListenerImpl implements Listener {
  constructor(
    readonly ns: Ns,
    readonly proto: 'tcp' | 'udp',
    readonly port: number,
    readonly logFile: string,
    private readonly proc: ResultPromise<Options>,
  ) {}

  get world(): Dom0Impl {
    return this.ns.world;
  }

  private events(): { ev: string; from?: string; data?: string }[] {
    let text: string;
    try {
      text = readFileSync(this.logFile, 'latin1');
    } catch {
      return [];
    }
    return text.split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as { ev: string; from?: string; data?: string }];
      } catch {
        return []; // blank, or a line still being written
      }
    });
  }

  received(): string {
    return this.events()
      .map((e) => e.data ?? '')
      .join('');
  }

  /** Cheaper than received() for polling: the raw log contains every token verbatim (JSON of [0-9a-z]). */
  logHas(token: string): boolean {
    try {
      return readFileSync(this.logFile, 'latin1').includes(token);
    } catch {
      return false;
    }
  }

  peers(): string[] {
    return [...new Set(this.events().flatMap((e) => (e.from ? [e.from] : [])))];
  }

  async stop(): Promise<void> {
    listeners.delete(this);
    this.proc.kill('SIGKILL');
    await this.proc;
  }
}

async function listen(ns: Netns, proto: 'tcp' | 'udp', port: number, opts: ListenOptions): Promise<Listener> {
  const n = impl(ns);
  const family = String(opts.family ?? 46);
  const logFile = join(n.world.tmpDir, `listen-${n.label}-${proto}-${port}-${hex(3)}.jsonl`);
  writeFileSync(logFile, '');
  const proc = execa('ip', ['netns', 'exec', n.name, process.execPath, LISTENER, proto, String(port), family, logFile], {
    env: TOOL_ENV,
    stdin: 'ignore',
    reject: false,
    buffer: false,
  }) as unknown as ResultPromise<Options>;
  n.world.track(proc);
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000);
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void proc.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    proc.kill('SIGKILL');
    await proc;
    throw new Error(`${proto} listener on port ${port} in ${n.name} did not start: ${stderr.trim() || 'timeout'}`);
  }
  const l = new ListenerImpl(n, proto, port, logFile, proc);
  listeners.add(l);
  return l;
}

/** A TCP listener (echoes what it receives) in ns on port; dual stack unless opts.family. Killed at destroy. */
export function listenTcp(ns: Netns, port: number, opts: ListenOptions = {}): Promise<Listener> {
  return listen(ns, 'tcp', port, opts);
}

/** A UDP listener in ns on port; dual stack unless opts.family. udpReaches checks its log. Killed at destroy. */
export function listenUdp(ns: Netns, port: number, opts: ListenOptions = {}): Promise<Listener> {
  return listen(ns, 'udp', port, opts);
}

/** True when a TCP connection from `from` to addr:port is established within 1 s (`nc -z -w 1`). */
/** `source` picks one of the sender's own addresses as the packet's source. */
export async function tcpConnects(from: Netns, addr: string, port: number, source?: string): Promise<boolean> {
  const args = ['-n', '-z', '-w', '1', ...(source ? ['-s', source] : []), addr, String(port)];
  const r = await impl(from).exec('nc', args, { reject: false, stdin: 'ignore', timeout: 5000 });
  return r.exitCode === 0;
}

async function until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (pred()) return true;
    if (Date.now() >= end) return false;
    await sleep(20);
  }
}

/**
 * True when a datagram from `from` to addr:port reaches a listenUdp listener on that port
 * within timeoutMs (default 1000). Throws if no UDP listener on that port is running.
 */
export async function udpReaches(from: Netns, addr: string, port: number, timeoutMs = 1000): Promise<boolean> {
  const n = impl(from);
  const targets = [...listeners].filter((l) => l.proto === 'udp' && l.port === port);
  if (targets.length === 0) throw new Error(`udpReaches: no UDP listener on port ${port} (call listenUdp first)`);
  const token = `vfwtudp${hex(8)}`;
  const r = await n.exec('bash', ['-c', 'printf "%s\\n" "$1" >"/dev/udp/$2/$3"', 'udp', token, addr, String(port)], {
    reject: false,
    stdin: 'ignore',
    timeout: 5000,
  });
  if (r.exitCode !== 0) return false; // e.g. network unreachable
  return until(() => targets.some((l) => l.logHas(token)), timeoutMs);
}

/** True when one ping from `from` to addr (v4 or v6) is answered within 1 s. */
export async function pings(from: Netns, addr: string): Promise<boolean> {
  const r = await impl(from).exec('ping', ['-n', '-c', '1', '-W', '1', addr], { reject: false, stdin: 'ignore', timeout: 5000 });
  return r.exitCode === 0;
}

/**
 * Opens a TCP connection from `from` to addr:port (a listenTcp listener must be there) and
 * keeps it open, to check later whether data still flows on it (e.g. after rules change).
 * Rejects when it cannot connect within 2 s. Closed at destroy.
 */
export async function holdTcpConnection(from: Netns, addr: string, port: number): Promise<HeldConnection> {
  const n = impl(from);
  const proc = n.exec('nc', ['-n', '-v', addr, String(port)], { stdin: 'pipe', reject: false, buffer: false }) as unknown as ResultPromise<Options>;
  n.world.track(proc);
  let open = true;
  let out = '';
  let err = '';
  proc.stdin?.on('error', () => {});
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString('latin1')));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  void proc.then(() => (open = false));
  const connected = await until(() => /succeeded/.test(err) || !open, 2000);
  if (!connected || !open) {
    proc.kill('SIGKILL');
    await proc;
    throw new Error(`holdTcpConnection: cannot connect from ${n.name} to ${addr} port ${port}: ${err.trim() || 'timeout'}`);
  }
  return {
    get open() {
      return open;
    },
    async flows(timeoutMs = 1000) {
      if (!open) return false;
      const token = `vfwttcp${hex(8)}`;
      proc.stdin?.write(`${token}\n`);
      const targets = () => [...listeners].filter((l) => l.proto === 'tcp' && l.port === port);
      return until(() => !open || (out.includes(token) && targets().some((l) => l.logHas(token))), timeoutMs).then((ok) => ok && out.includes(token));
    },
    async close() {
      proc.kill('SIGKILL');
      await proc;
    },
  };
}

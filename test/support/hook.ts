import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createDom0, guestMac, type Dom0, type Dom0Options, type Peer } from './netns.js';
import { FakeXenstore, fillVifLikeLibxl, type FilledVif, type VifSpec } from './xenstore.js';

/** The built bundle, run exactly as libxl runs a hotplug script: the file itself, via its shebang. */
export const HOOK = resolve(process.env.VIF_FIREWALL_HOOK || 'dist/vif-firewall');

/** A simulated dom0 with a fake xenstore, the hook's own settings file and a domain config dir. */
export interface HookWorld {
  readonly dom0: Dom0;
  readonly xs: FakeXenstore;
  readonly configDir: string;
  readonly settingsFile: string;
  readonly logFile: string;
  readonly stateDir: string;
  /** Writes /…/configDir/<name>.cfg. */
  writeConfig(name: string, text: string): string;
  /** The fake sysfs the hook reads device identities from (VIF_FIREWALL_SYSFS). */
  readonly sysfsDir: string;
  /**
   * The environment a hook run needs here (fake xenstore, settings file, fake sysfs),
   * with the fake sysfs brought up to date first.
   */
  hookEnv(): Promise<Record<string, string>>;
  /** Runs the hook inside dom0 with the fake xenstore on PATH. */
  run(args: readonly string[], env?: Record<string, string>): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** online/offline as libxl calls them for a vif filled with fillVif. */
  /**
   * Runs `online` as `xl create FILE` does: from a stand-in xl whose argv is `… xl create
   * <basename>` and whose cwd is the file's directory, with the hook as its child.
   */
  onlineUnderXlCreate(file: string, vif: FilledVif, hook?: string): ReturnType<HookWorld['run']>;
  online(vif: FilledVif): ReturnType<HookWorld['run']>;
  offline(vif: FilledVif): ReturnType<HookWorld['run']>;
  fillVif(spec: Omit<VifSpec, 'script' | 'mac'> & { mac?: string }): FilledVif;
  log(): string;
  /** Both families' filter tables and the bridge family's nft tables, as one string, for byte-for-byte comparisons. */
  tables(): Promise<string>;
}

export async function createHookWorld(settings = '', dom0Options: Dom0Options = {}): Promise<HookWorld> {
  const dom0 = await createDom0(dom0Options);
  const xs = new FakeXenstore(join(dom0.tmpDir, 'xenstore'));
  mkdirSync(xs.root, { recursive: true });
  const configDir = join(dom0.tmpDir, 'xen');
  const stateDir = join(dom0.tmpDir, 'run');
  const logFile = join(dom0.tmpDir, 'xen-hotplug.log');
  const settingsFile = join(dom0.tmpDir, 'vif-firewall.conf');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    settingsFile,
    `config_dirs = [ "${configDir}" ]\nlog_file = "${logFile}"\nstate_dir = "${stateDir}"\nsyslog = 0\n${settings}`,
  );
  const sysfs = new FakeSysfs(dom0, join(dom0.tmpDir, 'sysfs'));
  const env = { ...xs.env(), VIF_FIREWALL_CONF: settingsFile, VIF_FIREWALL_SYSFS: sysfs.root };
  const world: HookWorld = {
    dom0,
    xs,
    configDir,
    settingsFile,
    logFile,
    stateDir,
    sysfsDir: sysfs.root,
    async hookEnv() {
      await sysfs.sync();
      return { ...env };
    },
    writeConfig(name, text) {
      const file = join(configDir, `${name}.cfg`);
      writeFileSync(file, text);
      return file;
    },
    async run(args, extra = {}) {
      // Only hotplug calls check device identities: the others need no sync (a process each).
      const base = ['online', 'offline', 'add', 'remove'].includes(args[0] ?? '') ? await world.hookEnv() : env;
      const r = await dom0.exec(HOOK, [...args], {
        env: { ...base, ...extra },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
      });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    async onlineUnderXlCreate(file, vif, hook = HOOK) {
      const xl = join(dom0.tmpDir, 'xl');
      writeFileSync(xl, '#!/bin/bash\n"$HOOK" online type_if=vif\nexit $?\n', { mode: 0o755 });
      const r = await dom0.exec(xl, ['create', basename(file)], {
        cwd: dirname(file),
        env: { ...(await world.hookEnv()), HOOK: hook, ...vif.env },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
      });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    online: (vif) => world.run(['online', 'type_if=vif'], vif.env),
    offline: (vif) => world.run(['offline', 'type_if=vif'], vif.env),
    fillVif: (spec) => fillVifLikeLibxl(xs, { mac: guestMac(spec.domid, spec.devid), script: '/etc/xen/scripts/vif-firewall', ...spec }),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    tables: async () =>
      `${await dom0.iptablesSave(4)}\n----\n${await dom0.iptablesSave(6)}\n----\n${String((await dom0.exec('nft', ['list', 'ruleset', 'bridge'])).stdout)}`,
  };
  // Rules of "somebody else" that every test checks we never touch, and that make the
  // filter tables exist before the first snapshot.
  for (const tool of ['iptables', 'ip6tables']) {
    await dom0.exec(tool, ['-N', 'ADMIN']);
    await dom0.exec(tool, ['-A', 'ADMIN', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
    await dom0.exec(tool, ['-A', 'FORWARD', '-j', 'ADMIN']);
  }
  return world;
}

type Identity = { readonly device: string } | { readonly tunFlags: string } | undefined;

/**
 * A sysfs tree that holds what the hook checks before it touches a device: the identity
 * Xen's devices have and test devices lack. A veth in dom0 whose first name is netback's
 * (vifD.N) stands in for netback's vif, so it gets `device` → …/vif-D-N; one named as qemu's
 * tap (vifD.N-emu) gets `tun_flags`. Bridges, uplinks, lo, dummies and veths named otherwise
 * get nothing, as on a real host. The identity follows the device (by ifindex) through a
 * rename, as the kernel's does; entries change only on a rename, so hook runs reading the
 * tree while another run syncs it never miss their device.
 */
export class FakeSysfs {
  private readonly identities = new Map<number, Identity>();
  private running: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;

  constructor(
    private readonly dom0: Dom0,
    readonly root: string,
  ) {}

  /** Brings the tree up to date. Calls made while one runs share the next run: fifty hooks at once cost two. */
  sync(): Promise<void> {
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        this.running = this.syncNow();
        return this.running;
      });
    return this.queued;
  }

  private async syncNow(): Promise<void> {
    const links = JSON.parse(String((await this.dom0.exec('ip', ['-d', '-j', 'link', 'show'])).stdout)) as {
      ifindex: number;
      ifname: string;
      linkinfo?: { info_kind?: string };
    }[];
    for (const l of links) if (!this.identities.has(l.ifindex)) this.identities.set(l.ifindex, l.linkinfo?.info_kind === 'veth' ? identityOf(l.ifname) : undefined);
    const net = join(this.root, 'class', 'net');
    mkdirSync(net, { recursive: true });
    const wanted = new Map(links.flatMap((l) => { const id = this.identities.get(l.ifindex); return id ? [[l.ifname, id] as const] : []; }));
    for (const name of readdirSync(net)) if (!wanted.has(name)) rmSync(join(net, name), { recursive: true, force: true });
    for (const [name, id] of wanted) {
      const dir = join(net, name);
      if (holds(dir, id)) continue;
      rmSync(`${dir}.new`, { recursive: true, force: true });
      mkdirSync(`${dir}.new`, { recursive: true });
      if ('device' in id) symlinkSync(`../../../devices/xen-backend/${id.device}`, join(`${dir}.new`, 'device'));
      else writeFileSync(join(`${dir}.new`, 'tun_flags'), id.tunFlags);
      rmSync(dir, { recursive: true, force: true });
      renameSync(`${dir}.new`, dir);
    }
  }
}

function holds(dir: string, id: NonNullable<Identity>): boolean {
  if ('tunFlags' in id) return existsSync(join(dir, 'tun_flags'));
  try {
    return basename(readlinkSync(join(dir, 'device'))) === id.device;
  } catch {
    return false;
  }
}

function identityOf(name: string): Identity {
  const m = /^vif(\d+)\.(\d+)(-emu)?$/.exec(name);
  if (!m) return undefined;
  return m[3] ? { tunFlags: '0x1002\n' } : { device: `vif-${m[1]}-${m[2]}` };
}

/** The guest's addresses on the test networks (documentation ranges). */
export const net = {
  uplink: { ipv4: '192.0.2.1/24', ipv6: '2001:db8::1/64' },
  partner: { ipv4: '192.0.2.77/24', ipv6: '2001:db8::77/64' },
  guest: (n: number) => ({ ipv4: `192.0.2.${10 + n}/24`, ipv6: `2001:db8::${(10 + n).toString(16)}/64` }),
};

export type { Peer };

import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
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
  const world: HookWorld = {
    dom0,
    xs,
    configDir,
    settingsFile,
    logFile,
    stateDir,
    writeConfig(name, text) {
      const file = join(configDir, `${name}.cfg`);
      writeFileSync(file, text);
      return file;
    },
    async run(args, env = {}) {
      const r = await dom0.exec(HOOK, [...args], {
        env: { ...xs.env(), VIF_FIREWALL_CONF: settingsFile, ...env },
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
        env: { ...xs.env(), VIF_FIREWALL_CONF: settingsFile, HOOK: hook, ...vif.env },
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

/** The guest's addresses on the test networks (documentation ranges). */
export const net = {
  uplink: { ipv4: '192.0.2.1/24', ipv6: '2001:db8::1/64' },
  partner: { ipv4: '192.0.2.77/24', ipv6: '2001:db8::77/64' },
  guest: (n: number) => ({ ipv4: `192.0.2.${10 + n}/24`, ipv6: `2001:db8::${(10 + n).toString(16)}/64` }),
};

export type { Peer };

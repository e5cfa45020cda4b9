import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { DEFAULT_SETTINGS, parseSettings } from '../../src/read/settings.js';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, isRoot, listenTcp, tcpConnects } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

/**
 * The Debian package on this machine, for real: npm run package:deb builds it, dpkg -i installs
 * it, the installed /etc/xen/scripts/vif-firewall brings a vif online and offline in a dom0
 * (also under Node.js 18.19.1, the oldest its Depends allow), the demo runs against it, and
 * dpkg --purge leaves no file, conffile, directory or enablement link behind.
 * Root only; skipped, loudly, where dpkg is missing or where it would replace a vif-firewall
 * that is already installed on this machine.
 */

const PKG = 'vif-firewall';
const HOOK = '/etc/xen/scripts/vif-firewall';
const CONF = '/etc/xen/vif-firewall.conf';
const UNIT = '/lib/systemd/system/vif-firewall-sweep.service';
const WANTS = '/etc/systemd/system/multi-user.target.wants/vif-firewall-sweep.service';
const version: string = JSON.parse(readFileSync('package.json', 'utf8')).version;

const sh = (cmd: string, args: string[], opts: { env?: Record<string, string> } = {}) =>
  execa(cmd, args, { reject: false, stdin: 'ignore', ...opts }).then((r) => ({
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
  }));

function whyNot(): string | undefined {
  if (!isRoot) return 'the package test needs root (dpkg -i)';
  for (const tool of ['dpkg', 'dpkg-deb']) {
    if (!['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((d) => existsSync(join(d, tool)))) return `${tool} is not installed`;
  }
  return undefined;
}
const skipReason = whyNot();
if (skipReason) console.warn(`\n*** SKIPPED: Debian package test: ${skipReason} ***\n`);

/** Every path under the places a package or its maintainer scripts write to. */
function snapshot(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // absent
    }
    for (const e of entries) {
      out.push(join(dir, e.name));
      if (e.isDirectory()) walk(join(dir, e.name));
    }
  };
  // Not /run/vif-firewall: the hook's runtime dir (records, lock, code cache), which purge
  // removes whatever made it, even a hook run before the package (checked on its own).
  for (const dir of ['/etc', '/usr/lib/systemd', '/usr/share/doc', '/var/lib/systemd', '/var/lib/dpkg/info', '/var/lib/vif-firewall'])
    walk(dir);
  return out.sort();
}

describe.skipIf(skipReason !== undefined)('the Debian package', () => {
  let deb: string;
  let before: string[];
  let clobber: string | undefined;
  let dpkgFlags: string[] = [];

  beforeAll(async () => {
    if ((await sh('dpkg-query', ['-W', '-f=${Status}', PKG])).stdout.includes('installed'))
      clobber = `the package ${PKG} is installed on this machine`;
    else if (existsSync(HOOK) || existsSync(CONF)) clobber = `${HOOK} or ${CONF} exists on this machine`;
    if (clobber) {
      console.warn(`\n*** SKIPPED: Debian package test: ${clobber}, and the test would replace it ***\n`);
      return;
    }
    // Depends: nodejs (>= 18.19): satisfied when this machine's node is Debian's (or
    // NodeSource's) package. A node installed otherwise is invisible to dpkg: then, and only
    // here, dpkg -i is told to ignore the dependency.
    const node = await sh('dpkg-query', ['-W', '-f=${Version}', 'nodejs']);
    const ok = node.exitCode === 0 && (await sh('dpkg', ['--compare-versions', node.stdout, 'ge', '18.19'])).exitCode === 0;
    if (!ok) {
      console.warn('\n*** Debian package test: node is not a dpkg package here: dpkg -i --force-depends ***\n');
      dpkgFlags = ['--force-depends'];
    }
    const built = await sh('bash', ['scripts/package-deb.sh']);
    expect(built.stderr).toBe('');
    expect(built.exitCode).toBe(0);
    deb = resolve(built.stdout.trim().split('\n').at(-1)!);
    before = snapshot();
  }, 60_000);

  afterEach(destroyAllDom0s);
  afterAll(async () => {
    // A failed test must not leave the package installed.
    if (!clobber && (await sh('dpkg-query', ['-W', '-f=${Status}', PKG])).stdout.includes('ok installed'))
      await sh('dpkg', ['--purge', PKG]);
  });

  it('is vif-firewall_<version>_all.deb with the right control fields and files', async (ctx) => {
    if (clobber) ctx.skip();
    expect(deb).toBe(resolve(`build/${PKG}_${version}_all.deb`));
    const fields = await sh('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture', 'Depends']);
    expect(fields.stdout).toBe(`Package: ${PKG}\nVersion: ${version}\nArchitecture: all\nDepends: nodejs (>= 18.19), iptables, nftables, iproute2`);
    expect((await sh('dpkg-deb', ['-I', deb, 'conffiles'])).stdout.trim().split('\n').sort()).toEqual([HOOK, CONF].sort());
    const files = (await sh('dpkg-deb', ['-c', deb])).stdout
      .split('\n')
      .filter((l) => l.startsWith('-'))
      .map((l) => l.split(/\s+/))
      .map((f) => `${f[0]} ${f[1]} ${f.at(-1)!.replace(/^\./, '')}`);
    expect(files.sort()).toEqual(
      [
        `-rwxr-xr-x root/root ${HOOK}`,
        `-rw-r--r-- root/root ${CONF}`,
        `-rw-r--r-- root/root ${UNIT}`,
        `-rw-r--r-- root/root /usr/share/doc/${PKG}/README.md`,
        `-rw-r--r-- root/root /usr/share/doc/${PKG}/changelog.gz`,
        `-rw-r--r-- root/root /usr/share/doc/${PKG}/copyright`,
      ].sort(),
    );
  });

  it('installs with dpkg -i: the files, the conffiles, the enabled unit', async (ctx) => {
    if (clobber) ctx.skip();
    const i = await sh('dpkg', ['-i', ...dpkgFlags, deb]);
    expect(i.exitCode, i.stderr).toBe(0);
    expect((await sh('dpkg-query', ['-W', '-f=${Status} ${Version}', PKG])).stdout).toBe(`install ok installed ${version}`);
    expect(readFileSync(HOOK)).toEqual(readFileSync('dist/vif-firewall'));
    expect(statSync(HOOK).mode & 0o777).toBe(0o755);
    expect(parseSettings(readFileSync(CONF, 'utf8'), CONF)).toEqual({ ...DEFAULT_SETTINGS, file: CONF });
    expect(readlinkSync(WANTS)).toBe(UNIT); // enabled: sweep runs at boot
    expect((await sh(HOOK, ['--version'])).stdout).toBe(`vif-firewall ${version}`);
  });

  it('runs as libxl runs it, in a dom0, with this machine\'s node and with Node.js 18.19.1', async (ctx) => {
    if (clobber) ctx.skip();
    const node18 = await sh('bash', ['scripts/check-node18.sh', '--fetch']);
    if (node18.exitCode !== 0) console.warn(`\n*** NOT RUN under Node.js 18.19.1: ${node18.stderr.trim()} ***\n`);
    for (const nodeDir of [undefined, ...(node18.exitCode === 0 ? [node18.stdout.trim()] : [])]) {
      const w: HookWorld = await createHookWorld();
      const uplink = await w.dom0.addHost('uplink', net.uplink);
      const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
      w.writeConfig('george', 'firewall = [ "allow in tcp 22" ]\n');
      const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10' });
      const hookEnv = await w.hookEnv();
      const env = { ...hookEnv, ...(nodeDir ? { PATH: `${nodeDir}:${hookEnv.PATH}` } : {}) };
      const run = async (args: string[], extra: Record<string, string> = {}) => {
        const r = await w.dom0.exec(HOOK, args, { env: { ...env, ...extra }, extendEnv: false, reject: false, stdin: 'ignore' });
        return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
      };
      const which = String((await w.dom0.exec('env', ['node', '--version'], { env, extendEnv: false, stdin: 'ignore' })).stdout);
      if (nodeDir) expect(which).toBe('v18.19.1');
      const tables = await w.tables();
      await listenTcp(guest, 22);
      await listenTcp(guest, 23);
      const up = await run(['online', 'type_if=vif'], vif.env);
      expect(up.stderr, `online under node ${which}`).toBe('');
      expect(up.exitCode).toBe(0);
      expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('connected');
      expect(await tcpConnects(uplink, '192.0.2.10', 22)).toBe(true);
      expect(await tcpConnects(uplink, '192.0.2.10', 23)).toBe(false);
      await guest.unplug();
      prepareOfflineLikeLibxl(w.xs, 2, 0);
      const down = await run(['offline', 'type_if=vif'], vif.env);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await w.tables()).toBe(tables);
      // What the boot-time unit runs.
      const sweep = await run(['sweep']);
      expect(sweep.exitCode, sweep.stderr).toBe(0);
      await destroyAllDom0s();
    }
  });

  it('runs the demo against the installed hook', async (ctx) => {
    if (clobber) ctx.skip();
    const demo = await sh('node', ['scripts/run-ts.mjs', 'scripts/demo.ts'], { env: { VIF_FIREWALL_HOOK: HOOK } });
    expect(demo.stdout, 'test/support/hook.ts must take HOOK from VIF_FIREWALL_HOOK').toContain(`libxl runs: ${HOOK} online type_if=vif`);
    expect(demo.exitCode, `${demo.stdout}\n${demo.stderr}`).toBe(0);
    expect(demo.stdout).toContain('All probes as expected');
  });

  it('purges without a trace: no file, conffile, directory or link left', async (ctx) => {
    if (clobber) ctx.skip();
    const p = await sh('dpkg', ['--purge', PKG]);
    expect(p.exitCode, p.stderr).toBe(0);
    expect((await sh('dpkg-query', ['-W', '-f=${Status}', PKG])).stdout).not.toContain('installed');
    for (const f of [HOOK, CONF, UNIT, WANTS, `/usr/share/doc/${PKG}`, '/run/vif-firewall']) expect(existsSync(f), f).toBe(false);
    expect(snapshot()).toEqual(before);
  });
});

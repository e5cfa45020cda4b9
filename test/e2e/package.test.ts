import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { DEFAULT_SETTINGS, parseSettings } from '../../src/read/settings.js';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, isRoot, listenTcp, tcpConnects } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

/**
 * The Debian package on this machine, for real: npm run package:deb builds it (twice: the same
 * bytes), lintian --pedantic finds nothing, dpkg -i installs it, the installed
 * /etc/xen/scripts/vif-firewall brings a vif online and offline in a dom0 (also under Node.js
 * 18.19.1, the oldest its Depends allow), `vif-firewall status` runs from PATH, man renders both
 * pages without a warning, the demo runs against it, an upgrade from the previous release keeps
 * a running guest's chains and the new hook's offline removes them, and dpkg --purge leaves no
 * file, conffile, directory or enablement link behind.
 * Root only; skipped, loudly, where dpkg is missing or where it would replace a vif-firewall
 * that is already installed on this machine.
 */

const PKG = 'vif-firewall';
const PROGRAM = '/usr/lib/vif-firewall/vif-firewall';
const COMMAND = '/usr/sbin/vif-firewall';
const HOOK = '/etc/xen/scripts/vif-firewall';
const CONF = '/etc/xen/vif-firewall.conf';
/** Every unit of packaging/, installed; those with an [Install] section enabled, as `systemctl enable` would (a link per WantedBy= target). */
const UNITS = readdirSync('packaging')
  .filter((f) => f.endsWith('.service'))
  .map((name) => {
    const text = readFileSync(join('packaging', name), 'utf8');
    const install = text.slice(text.indexOf('[Install]'));
    const targets = text.includes('[Install]') ? [...install.matchAll(/^WantedBy=(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/)) : [];
    return { path: `/lib/systemd/system/${name}`, wants: targets.map((t) => `/etc/systemd/system/${t}.wants/${name}`) };
  });
const SWEEP = '/lib/systemd/system/vif-firewall-sweep.service';
const PAGES = ['/usr/share/man/man8/vif-firewall.8.gz', '/usr/share/man/man5/vif-firewall.conf.5.gz'];
/** 0.1.0, the last release that shipped the program itself as the conffile /etc/xen/scripts/vif-firewall. */
const PREVIOUS = { version: '0.1.0', commit: '62b104b475b8b8985c83b4004ddeb9267220c93c' };
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
  for (const dir of ['/etc', '/usr/lib/systemd', '/usr/lib/vif-firewall', '/usr/share/doc', '/var/lib/systemd', '/var/lib/dpkg/info', '/var/lib/vif-firewall'])
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
    expect(fields.stdout).toBe(`Package: ${PKG}\nVersion: ${version}\nArchitecture: all\nDepends: nodejs (>= 18.19), iptables, nftables, ipset, iproute2`);
    expect((await sh('dpkg-deb', ['-f', deb, 'Description'])).stdout).toContain('nft bridge table "vif-fw"');
    // Only real configuration is a conffile: the program lives in /usr.
    expect((await sh('dpkg-deb', ['-I', deb, 'conffiles'])).stdout).toBe(CONF);
    const entries = (await sh('dpkg-deb', ['-c', deb])).stdout
      .split('\n')
      .filter((l) => /^[-l]/.test(l))
      .map((l) => l.split(/\s+/))
      .map((f) => `${f[0]} ${f[1]} ${f.slice(5).join(' ').replace(/^\./, '')}`);
    expect(entries.sort()).toEqual(
      [
        `-rwxr-xr-x root/root ${PROGRAM}`,
        `lrwxrwxrwx root/root ${COMMAND} -> ../lib/vif-firewall/vif-firewall`,
        `lrwxrwxrwx root/root ${HOOK} -> ${PROGRAM}`,
        `-rw-r--r-- root/root ${CONF}`,
        ...UNITS.map((u) => `-rw-r--r-- root/root ${u.path}`),
        ...PAGES.map((p) => `-rw-r--r-- root/root ${p}`),
        `-rw-r--r-- root/root /usr/share/doc/${PKG}/README`,
        `-rw-r--r-- root/root /usr/share/doc/${PKG}/changelog.gz`,
        `-rw-r--r-- root/root /usr/share/doc/${PKG}/copyright`,
        `-rw-r--r-- root/root /usr/share/lintian/overrides/${PKG}`,
      ].sort(),
    );
  });

  it('builds reproducibly: a second build, from touched sources under another umask, is the same bytes', async (ctx) => {
    if (clobber) ctx.skip();
    const first = join(mkdtempSync(join(tmpdir(), 'vif-firewall-deb-')), 'first.deb');
    copyFileSync(deb, first);
    try {
      const again = await sh('bash', ['-c', 'sleep 1.1 && touch packaging/* docs/man/* && umask 077 && bash scripts/package-deb.sh']);
      expect(again.exitCode, again.stderr).toBe(0);
      expect(readFileSync(deb).equals(readFileSync(first))).toBe(true);
    } finally {
      rmSync(join(first, '..'), { recursive: true, force: true });
    }
  }, 60_000);

  it('is lintian --pedantic clean', async (ctx) => {
    if (clobber) ctx.skip();
    if ((await sh('lintian', ['--version'])).exitCode !== 0) {
      console.warn('\n*** SKIPPED: lintian is not installed (bash scripts/setup.sh installs it) ***\n');
      ctx.skip();
    }
    // Errors, warnings and pedantic tags; not the informational ones (-I), among them the
    // lack of a SysV init script for the boot-time unit, which a Xen dom0 of today does not need.
    const l = await sh('lintian', ['--pedantic', deb]);
    expect(l.stdout).toBe('');
    expect(l.exitCode).toBe(0);
  }, 120_000);

  it('installs with dpkg -i: the files, the conffiles, the enabled unit', async (ctx) => {
    if (clobber) ctx.skip();
    const i = await sh('dpkg', ['-i', ...dpkgFlags, deb]);
    expect(i.exitCode, i.stderr).toBe(0);
    expect((await sh('dpkg-query', ['-W', '-f=${Status} ${Version}', PKG])).stdout).toBe(`install ok installed ${version}`);
    expect(readFileSync(PROGRAM)).toEqual(readFileSync('dist/vif-firewall'));
    expect(statSync(PROGRAM).mode & 0o777).toBe(0o755);
    expect(readlinkSync(HOOK)).toBe(PROGRAM);
    expect(readlinkSync(COMMAND)).toBe('../lib/vif-firewall/vif-firewall');
    expect(parseSettings(readFileSync(CONF, 'utf8'), CONF)).toEqual({ ...DEFAULT_SETTINGS, file: CONF });
    expect(UNITS.map((u) => u.path)).toContain(SWEEP);
    for (const u of UNITS) for (const link of u.wants) expect(readlinkSync(link), link).toBe(u.path); // enabled: sweep runs at boot
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
  }, 180_000);

  it('is on PATH as vif-firewall, and man renders both pages without a warning', async (ctx) => {
    if (clobber) ctx.skip();
    const w = await createHookWorld();
    const status = await w.dom0.exec('vif-firewall', ['status'], {
      env: { ...w.xs.env(), PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', VIF_FIREWALL_CONF: w.settingsFile },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    expect(status.stderr).toBe('');
    expect(status.exitCode).toBe(0);
    for (const page of PAGES) {
      const man = await sh('man', ['--warnings', '-l', page], { env: { MANWIDTH: '80' } });
      expect(man.stderr, page).toBe('');
      expect(man.exitCode).toBe(0);
      expect(man.stdout).toMatch(/^NAME\n\s+vif-firewall/m);
    }
  });

  it('runs the demo against the installed hook', async (ctx) => {
    if (clobber) ctx.skip();
    const demo = await sh('node', ['scripts/run-ts.mjs', 'scripts/demo.ts'], { env: { VIF_FIREWALL_HOOK: HOOK } });
    expect(demo.stdout, 'test/support/hook.ts must take HOOK from VIF_FIREWALL_HOOK').toContain(`libxl runs: ${HOOK} online type_if=vif`);
    expect(demo.exitCode, `${demo.stdout}\n${demo.stderr}`).toBe(0);
    expect(demo.stdout).toContain('All probes as expected');
  });

  it('upgrades from the previous release: a running guest keeps its chains, and the new hook\'s offline removes them', async (ctx) => {
    if (clobber) ctx.skip();
    const old = await buildPrevious();
    if (!old) ctx.skip();
    expect((await sh('dpkg', ['--purge', PKG])).exitCode).toBe(0);
    const i = await sh('dpkg', ['-i', ...dpkgFlags, old!]);
    rmSync(old!);
    expect(i.exitCode, i.stderr).toBe(0);
    expect((await sh('dpkg-query', ['-W', '-f=${Version}', PKG])).stdout).toBe(PREVIOUS.version);
    expect(lstatSync(HOOK).isFile()).toBe(true); // the program itself, a conffile

    const w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    w.writeConfig('george', 'firewall = [ "allow in tcp 22" ]\n');
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10' });
    const env = { ...(await w.hookEnv()), VIF_FIREWALL_CONF: w.settingsFile, ...vif.env };
    const hook = async (args: string[]) => {
      const r = await w.dom0.exec(HOOK, args, { env, extendEnv: false, reject: false, stdin: 'ignore' });
      return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr) };
    };
    const pristine = await w.tables();
    await listenTcp(guest, 22);
    await listenTcp(guest, 23);
    const up = await hook(['online', 'type_if=vif']);
    expect(up.exitCode, up.stderr).toBe(0);
    const online = await w.tables();
    expect(online).toContain('vif-fw-in-vif2.0');

    const u = await sh('dpkg', ['-i', ...dpkgFlags, deb]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect((await sh('dpkg-query', ['-W', '-f=${Version}', PKG])).stdout).toBe(version);
    expect(readlinkSync(HOOK)).toBe(PROGRAM);
    expect((await sh('dpkg-query', ['-W', '-f=${Conffiles}', PKG])).stdout.trim().split('\n').map((l) => l.trim().split(' ')[0])).toEqual([CONF]);
    for (const aside of ['dpkg-bak', 'dpkg-remove', 'dpkg-backup', 'dpkg-old', 'dpkg-dist']) expect(existsSync(`${HOOK}.${aside}`), aside).toBe(false);
    expect(await w.tables()).toBe(online);
    expect(await tcpConnects(uplink, '192.0.2.10', 22)).toBe(true);
    expect(await tcpConnects(uplink, '192.0.2.10', 23)).toBe(false);

    await guest.unplug();
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    const down = await hook(['offline', 'type_if=vif']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await w.tables()).toBe(pristine);
  }, 120_000);

  it('purges without a trace: no file, conffile, directory or link left', async (ctx) => {
    if (clobber) ctx.skip();
    const p = await sh('dpkg', ['--purge', PKG]);
    expect(p.exitCode, p.stderr).toBe(0);
    expect((await sh('dpkg-query', ['-W', '-f=${Status}', PKG])).stdout).not.toContain('installed');
    for (const f of [PROGRAM, COMMAND, HOOK, CONF, ...UNITS.flatMap((u) => [u.path, ...u.wants]), ...PAGES, `/usr/share/doc/${PKG}`, '/run/vif-firewall']) expect(existsSync(f), f).toBe(false);
    expect(snapshot()).toEqual(before);
  });
});

/** build/vif-firewall_<previous>_all.deb, built by that release's own scripts from its own tree; undefined (and said) where that commit is not in this clone. */
async function buildPrevious(): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'vif-firewall-previous-'));
  const tree = await sh('bash', ['-c', `git archive ${PREVIOUS.commit} | tar -x -C "$1"`, 'sh', dir]);
  if (tree.exitCode !== 0) {
    console.warn(`\n*** SKIPPED: the upgrade test needs release ${PREVIOUS.version} (commit ${PREVIOUS.commit}) in this clone: ${tree.stderr.trim()} ***\n`);
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
  const built = await sh('bash', [join(dir, 'scripts/package-deb.sh')]);
  expect(built.exitCode, built.stderr).toBe(0);
  const old = join(tmpdir(), `vif-firewall_${PREVIOUS.version}_all.deb`);
  copyFileSync(join(dir, built.stdout.trim().split('\n').at(-1)!), old);
  rmSync(dir, { recursive: true, force: true });
  return old;
}

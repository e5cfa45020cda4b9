import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, isRoot, listenTcp, requireRoot, tcpConnects } from '../support/netns.js';
import { prepareOfflineLikeLibxl, type FilledVif } from '../support/xenstore.js';

/**
 * The standalone executable (npm run build:sea → build/vif-firewall): the same answers as the
 * bundle, its start-up time next to the bundle's, and the hook's key scenarios run with it in
 * place of dist/vif-firewall, as libxl would run it. Built here when missing or stale; skipped,
 * loudly, only where it cannot be built (not Linux x86-64, a node without SEA support), never in CI.
 */

const SEA = resolve('build/vif-firewall');
const BUNDLE = resolve('dist/vif-firewall');

let buildProblem: string | undefined;
beforeAll(async () => {
  const r = await execa('node', ['scripts/build-sea.mjs', '--if-stale'], { reject: false, stdin: 'ignore' });
  if (r.exitCode === 3 && !process.env.CI) {
    buildProblem = String(r.stderr).trim();
    console.warn(`\n*** SKIPPED: the standalone executable cannot be built here: ${buildProblem} ***\n`);
  } else if (r.exitCode !== 0) {
    throw new Error(`node scripts/build-sea.mjs failed (exit ${r.exitCode}): ${String(r.stderr)}`);
  }
}, 60_000);

/** Runs a file and returns what it said, for comparing the executable with the bundle. */
function answer(file: string, args: string[]) {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};

describe('build/vif-firewall, the standalone executable', () => {
  it('answers as the bundle does, and needs no node on PATH', (ctx) => {
    if (buildProblem) ctx.skip();
    for (const args of [['--version'], ['--help'], ['online', '--help'], ['sweep', '--help'], ['bogus'], []])
      expect(answer(SEA, args), args.join(' ')).toEqual(answer(BUNDLE, args));
    const r = spawnSync(SEA, ['--version'], { encoding: 'utf8', env: { PATH: '/nonexistent' } });
    expect(r.stdout).toMatch(/^vif-firewall \d+\.\d+\.\d+\n$/);
    expect(r.stderr).toBe(''); // no ExperimentalWarning
  });

  it('starts up: --version, median of 20 runs, next to the bundle', (ctx) => {
    if (buildProblem) ctx.skip();
    const time = (file: string) => {
      const ms: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = process.hrtime.bigint();
        const r = spawnSync(file, ['--version'], { stdio: 'ignore' });
        ms.push(Number(process.hrtime.bigint() - t) / 1e6);
        expect(r.status).toBe(0);
      }
      return median(ms);
    };
    time(SEA); // warm the page cache for both
    time(BUNDLE);
    const sea = time(SEA);
    const bundle = time(BUNDLE);
    const node = String(spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout).trim();
    console.log(`start-up (--version, median of 20): bundle ${bundle.toFixed(1)} ms (node ${node}), standalone ${sea.toFixed(1)} ms`);
    expect(sea).toBeLessThan(2000);
  });
});

describe.skipIf(!requireRoot('standalone executable end-to-end tests'))('build/vif-firewall as the hook, in a dom0', () => {
  afterEach(destroyAllDom0s);

  const RULES = `name = "george"
vif = [ 'mac=00:16:3e:00:00:02,bridge=xenbr0,ip=192.0.2.10,script=vif-firewall' ]
firewall = [
  "allow in tcp 22",
  "allow in udp 5353",
  "log in",
]
`;
  const ip = (cidr: string) => cidr.split('/')[0]!;
  let w: HookWorld;

  /** world.run, with the standalone executable in place of dist/vif-firewall. */
  async function hook(args: string[], env: Record<string, string> = {}, file = SEA) {
    const r = await w.dom0.exec(file, args, {
      env: { ...(await w.hookEnv()), ...env },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  async function georgeUp() {
    w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    w.writeConfig('george', RULES);
    const vif: FilledVif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10 2001:db8::a' });
    await listenTcp(guest, 22);
    await listenTcp(guest, 23);
    return { uplink, guest, vif };
  }

  it('online filters a port, offline cleans up to the byte', async (ctx) => {
    if (buildProblem || !isRoot) ctx.skip();
    const { uplink, guest, vif } = await georgeUp();
    const before = await w.tables();
    const up = await hook(['online', 'type_if=vif'], vif.env);
    expect(up.stderr).toBe('');
    expect(up.exitCode).toBe(0);
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('connected');
    expect((await w.dom0.link('vif2.0'))?.master).toBe('xenbr0');
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(true);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 23)).toBe(false);
    expect(await tcpConnects(uplink, ip(guest.cidr6!), 22)).toBe(true);
    expect(w.log()).toMatch(/info: online type_if=vif .*: ok domain=george dev=vif2\.0 bridge=xenbr0 .*rules=2 commit=alone in \d+ ms/);

    await guest.unplug();
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    const down = await hook(['offline', 'type_if=vif'], vif.env);
    expect(down.stderr).toBe('');
    expect(down.exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
  });

  it('fails closed on a malformed config: file:line:col, tables unchanged, vif off the bridge', async (ctx) => {
    if (buildProblem || !isRoot) ctx.skip();
    const { uplink, guest, vif } = await georgeUp();
    const file = w.writeConfig('george', RULES.replace('"allow in udp 5353"', '"allow in udp 70000"'));
    const before = await w.tables();
    const r = await hook(['online', 'type_if=vif'], vif.env);
    expect(r.exitCode).toBe(1);
    const message = `${file}:5:17: port 70000 out of range 1-65535`;
    expect(r.stderr).toContain(message);
    expect(w.xs.read(`${vif.backendPath}/hotplug-error`)).toContain(message);
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('error');
    expect(await w.tables()).toBe(before);
    expect((await w.dom0.link('vif2.0'))?.master).toBeUndefined();
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(false);
  });

  it('finds the config through its xl create parent, replays by hand, and sweeps', async (ctx) => {
    if (buildProblem || !isRoot) ctx.skip();
    const { uplink, guest, vif } = await georgeUp();
    const elsewhere = `${w.dom0.tmpDir}/elsewhere`;
    await w.dom0.exec('mkdir', ['-p', elsewhere]);
    await w.dom0.exec('mv', [`${w.configDir}/george.cfg`, `${elsewhere}/george-test.cfg`]);
    const r = await w.onlineUnderXlCreate(`${elsewhere}/george-test.cfg`, vif, SEA);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(w.log()).toContain(`config=${elsewhere}/george-test.cfg`);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(true);
    const installed = await w.tables();
    // The bundle and the executable install the same rules: a replay by the bundle changes nothing.
    await w.dom0.exec('mv', [`${elsewhere}/george-test.cfg`, `${w.configDir}/george.cfg`]);
    expect((await hook(['online', 'vif2.0'], {}, BUNDLE)).exitCode).toBe(0);
    expect(await w.tables()).toBe(installed);
    await guest.unplug();
    const swept = await hook(['sweep']);
    expect(swept.stderr).toBe('');
    expect(swept.exitCode).toBe(0);
    expect(swept.stdout).toContain('removed the chains of vif2.0 (device gone)');
    expect(await w.tables()).not.toMatch(/vif-fw-|VIF-FW/);
  });
});

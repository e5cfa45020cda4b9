import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { HOOK, createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, listenTcp, requireRoot, tcpConnects } from '../support/netns.js';

/** The admin's commands (show, --dry-run, status, sweep) end to end, on the built bundle. */

const RULES = 'name = "george"\nfirewall = [ "allow in tcp 22", "allow in tcp 80 from 192.0.2.77", "log in" ]\n';
const ip = (cidr: string) => cidr.split('/')[0]!;

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('operator command tests'))('operator commands', () => {
  let w: HookWorld;

  async function george() {
    w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const file = w.writeConfig('george', RULES);
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: ip(guest.cidr4) });
    return { uplink, guest, vif, file };
  }

  it('show prints the rules in plain words and the restore text online would apply', async () => {
    const { file } = await george();
    const r = await w.run(['show', 'george']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`${file}: firewall, 2 rules for vif 0 (device vifD.0)`);
    expect(r.stdout).toContain('george.cfg:2: allow traffic to the guest, TCP to port 22 (IPv4 and IPv6)');
    expect(r.stdout).toContain('-A vif-fw-in-vifD.0 -s 192.0.2.77/32 -p tcp -m tcp --dport 80 -j RETURN');
    const json = JSON.parse((await w.run(['show', file, '--dev', 'vif2.0', '--json'])).stdout);
    expect(json.device).toBe('vif2.0');
    expect(json.rules.map((x: { text: string }) => x.text)).toEqual(['allow in tcp 22', 'allow in tcp 80 from 192.0.2.77']);
    expect(json.restore.ipv6).toContain('-A vif-fw-in-vif2.0 -p tcp -m tcp --dport 22 -j RETURN');
    expect(json.restore.ipv6).not.toContain('192.0.2.77');
    const bad = await w.run(['show', 'george', '--vif', 'x']);
    expect(bad.exitCode).toBe(2);
  });

  it('show needs no root and names a config error by file:line:col', async () => {
    // World-readable, so that nobody can read the config.
    const dir = mkdtempSync('/tmp/vfwt-show-');
    chmodSync(dir, 0o755);
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bad.cfg');
    // No settings: an empty file (the hook refuses to read a device such as /dev/null).
    const settings = join(dir, 'empty.conf');
    writeFileSync(settings, '', { mode: 0o644 });
    writeFileSync(file, 'firewall = [\n  "allow in tcp 22",\n  "allow sideways tcp 22",\n]\n', { mode: 0o644 });
    const { execa } = await import('execa');
    const r = await execa('runuser', ['-u', 'nobody', '--', HOOK, 'show', file], { reject: false, env: { VIF_FIREWALL_CONF: settings } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${file}:3:10: `);
    writeFileSync(file, 'firewall = [ "allow in tcp 22" ]\n');
    const ok = await execa('runuser', ['-u', 'nobody', '--', HOOK, 'show', file], { reject: false, env: { VIF_FIREWALL_CONF: settings } });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('against empty tables');
  });

  it('online --dry-run prints every read, command and restore text, and touches nothing', async () => {
    const { vif } = await george();
    const before = await w.tables();
    const dry = await w.run(['online', 'vif2.0', '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('$ xenstore-read /local/domain/2/name\n  → george');
    expect(dry.stdout).toContain('would run iptables-restore --noflush -w <<EOF\n*filter\n');
    expect(dry.stdout).toContain('would run ip -batch - <<EOF\nlink set dev vif2.0 down\n');
    expect(dry.stdout).toContain('would run xenstore-write');
    expect(await w.tables()).toBe(before);
    expect((await w.dom0.link('vif2.0'))?.master).toBeUndefined();
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('');
    expect(existsSync(join(w.stateDir, 'vifs'))).toBe(false);
    expect(w.log()).toBe('');

    // The real call, narrated with --verbose, runs exactly the commands the dry run printed.
    const real = await w.run(['online', 'vif2.0', '--verbose']);
    expect(real.exitCode).toBe(0);
    // Sorted: calls made in parallel (xenstore reads, the two families) finish in any order.
    const commands = (text: string) => text.split('\n').filter((l) => /^(\$|would run) /.test(l)).map((l) => l.replace(/^would run /, '$ ')).sort();
    expect(commands(real.stderr)).toEqual(commands(dry.stdout));
    expect(await w.tables()).not.toBe(before);
  });

  it('status shows counters that move with real packets, and flags drift and orphans', async () => {
    const { uplink, guest, vif, file } = await george();
    await listenTcp(guest, 22);
    expect((await w.online(vif)).exitCode).toBe(0);
    const status = async () => JSON.parse((await w.run(['status', 'george', '--json'])).stdout);
    const counter = async () => {
      const s = await status();
      return { state: s.vifs[0]?.state, packets: s.vifs[0]?.counters.find((c: { text: string }) => c.text === 'allow in tcp 22')?.packets as number };
    };
    const first = await counter();
    expect(first.state).toBe('ok');
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(true);
    expect((await counter()).packets).toBeGreaterThan(first.packets);
    const text = await w.run(['status']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^1 vif: 1 ok; firewall in force\n\nDOMAIN +VIF +BRIDGE +STATE +RULES +DROPPED\ngeorge +vif2\.0 +xenbr0 +ok +2 +\d+$/);
    const verbose = await w.run(['status', '-v']);
    expect(verbose.stdout).toMatch(/\n {2}george\.cfg:2 +allow in tcp 22 +[1-9]\d* +[1-9]\d*\n/);

    writeFileSync(file, RULES.replace('tcp 22', 'tcp 2222'));
    expect((await counter()).state).toBe('drift');
    await guest.unplug();
    const gone = await status();
    expect(gone.vifs).toEqual([]);
    expect(gone.orphans).toEqual([{ dev: 'vif2.0', vif: 'vif2.0', domain: 'george', chains: true, record: true }]);
    expect((await w.run(['status'])).stdout).toContain('1 orphaned device (vif2.0): chains or records of devices that are gone: run vif-firewall sweep');
  });

  it('sweep removes what an online killed by libxl left behind, and nothing of live devices', async () => {
    const { guest, vif } = await george();
    const other = await w.dom0.addGuest('other', { dom0Dev: 'vif3.0', ...net.guest(1) });
    w.writeConfig('other', RULES);
    const before = await w.tables();
    const otherVif = w.fillVif({ domid: 3, devid: 0, name: 'other' });
    expect((await w.online(otherVif)).exitCode).toBe(0);
    const withOther = await w.tables();

    // An `ip` that hangs: online installs the chains, then hangs attaching the port,
    // and is SIGKILLed as libxl does after 40 s.
    const slow = join(w.dom0.tmpDir, 'slow-bin');
    mkdirSync(slow);
    writeFileSync(join(slow, 'ip'), '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    // (PATH is set by env(1) inside the namespace: `ip netns exec` itself needs the real ip.)
    // In a process group of its own, so that the hook and the sleep it hangs on are killed
    // together, by group id: never by name, which would reach other processes on this machine.
    const hung = w.dom0.exec('env', [`PATH=${slow}:${w.xs.env().PATH}`, HOOK, 'online', 'type_if=vif'], {
      env: { ...(await w.hookEnv()), ...vif.env },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      detached: true,
    });
    for (let i = 0; i < 100 && !(await w.tables()).includes('vif-fw-in-vif2.0'); i++) await new Promise((r) => setTimeout(r, 50));
    process.kill(-hung.pid!, 'SIGKILL');
    await hung;
    expect(await w.tables()).toContain('vif-fw-in-vif2.0');
    await guest.unplug(); // libxl destroys the domain

    const dry = await w.run(['sweep', '--dry-run']);
    expect(dry.stdout).toContain('would remove the chains of vif2.0 (device gone)');
    expect(await w.tables()).toContain('vif-fw-in-vif2.0');
    const r = await w.run(['sweep']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('removed the chains of vif2.0 (device gone)');
    expect(await w.tables()).toBe(withOther);
    expect((await w.run(['sweep'])).stdout).toBe('nothing to sweep');

    await other.unplug();
    expect((await w.run(['sweep'])).stdout).toContain('removed the chains of vif3.0');
    expect(await w.tables()).toBe(before);
  });
});

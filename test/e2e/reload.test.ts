import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, holdTcpConnection, listenTcp, requireRoot, tcpConnects, type Peer } from '../support/netns.js';

/** `reload` end to end: atomic swaps of a running guest's rules, judged by live connections. */

const A = 'name = "george"\nfirewall = [ "allow in tcp 22", "allow in tcp 80" ]\n';
const B = 'name = "george"\nfirewall = [ "allow in tcp 22", "allow in tcp 443" ]\n';
const ip = (cidr: string) => cidr.split('/')[0]!;

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('reload tests'))('vif-firewall reload', () => {
  let w: HookWorld;
  let uplink: Peer;
  let guest: Peer;
  let file: string;

  async function george() {
    w = await createHookWorld();
    uplink = await w.dom0.addHost('uplink', net.uplink);
    guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    file = w.writeConfig('george', A);
    for (const port of [22, 23, 80, 443]) await listenTcp(guest, port);
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: `${ip(guest.cidr4)} ${ip(guest.cidr6!)}` });
    expect((await w.online(vif)).exitCode).toBe(0);
  }

  it('keeps connections the new rules allow, and cuts those they forbid', async () => {
    await george();
    const ssh = await holdTcpConnection(uplink, ip(guest.cidr4), 22);
    const web = await holdTcpConnection(uplink, ip(guest.cidr4), 80);
    const web6 = await holdTcpConnection(uplink, ip(guest.cidr6!), 80);
    expect(await ssh.flows()).toBe(true);
    expect(await web.flows()).toBe(true);

    writeFileSync(file, B);
    const r = await w.run(['reload', 'george']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^reloaded vif2\.0 \(george, device vif2\.0\): 2 rules from .*george\.cfg; 2 established connections cut$/);

    expect(await ssh.flows(4000)).toBe(true);
    expect(await web.flows(4000)).toBe(false);
    expect(await web6.flows(4000)).toBe(false);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 80)).toBe(false);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 443)).toBe(true);
    for (const c of [ssh, web, web6]) await c.close();
  });

  it('never shows a forbidden port open, nor closes an allowed one, while rules are swapped', async () => {
    await george();
    let swapping = true;
    const seen = { forbiddenOpen: 0, allowedClosed: 0, probes: 0 };
    const probe = async (port: number, expectOpen: boolean) => {
      while (swapping) {
        const open = await tcpConnects(uplink, ip(guest.cidr4), port);
        seen.probes++;
        if (open && !expectOpen) seen.forbiddenOpen++;
        if (!open && expectOpen) seen.allowedClosed++;
      }
    };
    const probes = [probe(22, true), probe(23, false), probe(23, false), probe(23, false)];
    for (let i = 0; i < 16; i++) {
      writeFileSync(file, i % 2 ? A : B);
      expect((await w.run(['reload', 'vif2.0'])).exitCode).toBe(0);
    }
    swapping = false;
    await Promise.all(probes);
    expect(seen.probes).toBeGreaterThan(10);
    expect(seen).toMatchObject({ forbiddenOpen: 0, allowedClosed: 0 });
  });

  it('changes nothing when a config has an error', async () => {
    await george();
    const before = await w.tables();
    writeFileSync(file, 'name = "george"\nfirewall = [ "allow in tcp 22", "allow in tcp 80-22" ]\n');
    const r = await w.run(['reload', '--all']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/george\.cfg:2:47: /);
    expect(await w.tables()).toBe(before);
    expect((await w.run(['reload', 'nobody'])).stderr).toContain('no managed vif matches "nobody"');
    expect((await w.run(['reload'])).exitCode).toBe(2);
  });
});

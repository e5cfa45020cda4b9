import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, holdTcpConnection, listenTcp, listenUdp, pings, requireRoot, tcpConnects, udpReaches } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

/**
 * The hook end to end: dist/vif-firewall run as libxl runs it, in a simulated dom0
 * (network namespaces, a real bridge, real iptables), judged by real packets.
 */

const RULES = `name = "george"
vif = [ 'mac=00:16:3e:00:00:02,bridge=xenbr0,ip=192.0.2.10,script=vif-firewall' ]
firewall = [
  "allow in tcp 22",
  "allow in tcp 80,443 from 192.0.2.77, 2001:db8::77",
  "allow in udp 5353",
  "allow in ping",
  "drop out tcp 25",
  "log in",
]
`;

const ip = (cidr: string) => cidr.split('/')[0]!;

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('hook end-to-end tests'))('vif-firewall online/offline as libxl calls it', () => {
  let w: HookWorld;

  async function georgeUp() {
    w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const partner = await w.dom0.addHost('partner', net.partner);
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    w.writeConfig('george', RULES);
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10 2001:db8::a' });
    return { uplink, partner, guest, vif };
  }

  it('filters what the rules say, both families, both directions, and reports connected', async () => {
    const { uplink, partner, guest, vif } = await georgeUp();
    for (const port of [22, 23, 80, 443]) await listenTcp(guest, port);
    await listenUdp(guest, 5353);
    await listenUdp(guest, 5354);
    await listenTcp(uplink, 25);
    await listenTcp(uplink, 8080);

    const r = await w.online(vif);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('connected');
    expect(w.xs.read(`${vif.frontendPath}/mtu`)).toBe('1500');
    const link = await w.dom0.link('vif2.0');
    expect(link).toMatchObject({ up: true, master: 'xenbr0', mac: 'fe:ff:ff:ff:ff:ff' });

    const g4 = ip(guest.cidr4);
    const g6 = ip(guest.cidr6!);
    expect(await tcpConnects(uplink, g4, 22)).toBe(true); // allowed port
    expect(await tcpConnects(uplink, g4, 23)).toBe(false); // policy in drop
    expect(await tcpConnects(uplink, g4, 80)).toBe(false); // from restriction
    expect(await tcpConnects(partner, g4, 80)).toBe(true);
    expect(await tcpConnects(uplink, g6, 22)).toBe(true); // a rule without addresses: both families
    expect(await tcpConnects(partner, g6, 443)).toBe(true); // IPv6 address of a mixed list
    expect(await tcpConnects(uplink, g6, 443)).toBe(false);
    expect(await udpReaches(uplink, g4, 5353)).toBe(true);
    expect(await udpReaches(uplink, g4, 5354)).toBe(false);
    expect(await pings(uplink, g4)).toBe(true);
    expect(await pings(uplink, g6)).toBe(true); // icmpv6 echo, and neighbour discovery under policy drop
    expect(await tcpConnects(guest, ip(uplink.cidr4), 8080)).toBe(true); // out policy accept + return traffic
    expect(await tcpConnects(guest, ip(uplink.cidr4), 25)).toBe(false); // drop out tcp 25

    const log = w.log();
    expect(log).toMatch(/info: online type_if=vif vif=vif2\.0 XENBUS_PATH=backend\/vif\/2\/0: ok domain=george dev=vif2\.0 bridge=xenbr0 .*rules=5 commit=alone in \d+ ms/);
  });

  it('online twice leaves one copy; offline removes everything, twice is a no-op', async () => {
    const { vif } = await georgeUp();
    const before = await w.tables();
    expect((await w.online(vif)).exitCode).toBe(0);
    const once = await w.tables();
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await w.tables()).toBe(once);
    expect(once).toContain('-A FORWARD -j ADMIN'); // the admin's rules are still there
    // A broken base chain of the bridge table is repaired by the next online.
    await w.dom0.exec('nft', ['flush', 'chain', 'bridge', 'vif-fw', 'prerouting']);
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await w.tables()).toBe(once);
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    expect((await w.offline(vif)).exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
    expect((await w.dom0.link('vif2.0'))?.master).toBeUndefined();
    expect((await w.offline(vif)).exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
  });

  it('on a host with many guests, a new device reads nothing first; a re-online falls back to the full read', async () => {
    const { vif } = await georgeUp();
    const before = await w.tables();
    expect((await w.online(vif)).exitCode).toBe(0);
    const george = await w.tables();
    // Records of 60 more guests: what online leaves on a large host.
    mkdirSync(join(w.stateDir, 'vifs'), { recursive: true });
    for (let d = 100; d < 160; d++) writeFileSync(join(w.stateDir, 'vifs', `vif${d}.0.json`), JSON.stringify({ vif: `vif${d}.0`, dev: `vif${d}.0` }));
    await w.dom0.addGuest('fred', { dom0Dev: 'vif3.0', ...net.guest(1) });
    w.writeConfig('fred', 'name = "fred"\nfirewall = [ "allow in tcp 22" ]\n');
    w.fillVif({ domid: 3, devid: 0, name: 'fred' });

    const quick = await w.run(['online', 'vif3.0', '--verbose']);
    expect(quick.exitCode).toBe(0);
    expect(quick.stderr).toContain('-C FORWARD -j VIF-FW');
    expect(quick.stderr).not.toMatch(/iptables-save|iptables -w -S|nft list/);
    const both = await w.tables();
    expect(both).toContain('-A VIF-FW-IN -m physdev --physdev-out vif3.0 --physdev-is-bridged -j vif-fw-in-vif3.0');

    const again = await w.run(['online', 'vif3.0', '--verbose']);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain('Chain already exists');
    expect(again.stderr).toContain('$ iptables-save -t filter');
    expect(await w.tables()).toBe(both);

    // A broken skeleton fails the commit built on the records: the full read takes over and repairs it.
    prepareOfflineLikeLibxl(w.xs, 3, 0);
    expect((await w.run(['offline', 'vif3.0'])).exitCode).toBe(0);
    w.fillVif({ domid: 3, devid: 0, name: 'fred' });
    await w.dom0.exec('iptables', ['-D', 'FORWARD', '-j', 'VIF-FW']);
    const repaired = await w.run(['online', 'vif3.0', '--verbose']);
    expect(repaired.exitCode).toBe(0);
    expect(repaired.stderr).toContain('$ iptables-save -t filter');
    expect(repaired.stderr).not.toContain('$ ip6tables-save');
    expect(await w.tables()).toBe(both);

    // Here online trusts the bridge table's base chain; repair looks at it and mends it.
    await w.dom0.exec('nft', ['flush', 'chain', 'bridge', 'vif-fw', 'prerouting']);
    expect((await w.run(['repair'])).exitCode).toBe(0);
    expect(await w.tables()).toBe(both);

    // offline removes what online installed without reading the tables either.
    prepareOfflineLikeLibxl(w.xs, 3, 0);
    const down = await w.run(['offline', 'vif3.0', '--verbose']);
    expect(down.exitCode).toBe(0);
    expect(down.stderr).not.toMatch(/iptables-save|nft list/);
    expect(await w.tables()).toBe(george);
    expect((await w.run(['offline', 'vif3.0'])).exitCode).toBe(0); // twice: the quick removal fails, the full read finds nothing

    for (let d = 100; d < 160; d++) rmSync(join(w.stateDir, 'vifs', `vif${d}.0.json`));
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    expect((await w.offline(vif)).exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
  });

  it('cleans up on offline after xl destroy removed the device and the config', async () => {
    const { guest, vif } = await georgeUp();
    const before = await w.tables();
    expect((await w.online(vif)).exitCode).toBe(0);
    await guest.unplug(); // netback's vif is gone before libxl runs offline
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    w.writeConfig('george', 'this is = not a config [');
    const r = await w.offline(vif);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
    expect(w.log()).toMatch(/offline .* ok domain=george dev=vif2\.0 device=gone/);
  });

  it('replays by hand exactly what libxl does', async () => {
    const { vif } = await georgeUp();
    expect((await w.online(vif)).exitCode).toBe(0);
    const byLibxl = await w.tables();
    expect((await w.run(['offline', 'vif2.0'])).exitCode).toBe(0);
    expect(await w.tables()).not.toContain('vif2.0');
    const r = await w.run(['online', 'vif2.0']);
    expect(r.exitCode).toBe(0);
    expect(await w.tables()).toBe(byLibxl);
  });

  it('fails closed on a malformed rule: file:line:col everywhere, tables unchanged, vif off the bridge', async () => {
    const { uplink, guest, vif } = await georgeUp();
    const file = w.writeConfig('george', RULES.replace('"allow in udp 5353"', '"allow in udp 70000"'));
    const before = await w.tables();
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    const message = `${file}:6:17: port 70000 out of range 1-65535`;
    expect(r.stderr).toContain(message);
    expect(w.xs.read(`${vif.backendPath}/hotplug-error`)).toContain(message);
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('error');
    expect(w.log()).toContain(message);
    expect(await w.tables()).toBe(before);
    expect((await w.dom0.link('vif2.0'))?.master).toBeUndefined();
    await listenTcp(guest, 22);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(false);
  });

  it('fails closed when the config cannot be found, and on an invalid vif name', async () => {
    const { vif } = await georgeUp();
    const before = await w.tables();
    w.xs.write('/local/domain/2/name', 'nobody');
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no domain config for "nobody": tried .*nobody\.cfg, .*nobody \(not run by xl create/);
    const bad = await w.run(['online', 'type_if=vif'], { ...vif.env, vif: 'vif2+' });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/vif="vif2\+" and XENBUS_PATH="backend\/vif\/2\/0" name different devices/);
    const manual = await w.run(['online', 'vif2+']);
    expect(manual.exitCode).toBe(1);
    expect(manual.stderr).toMatch(/"vif2\+" is not a valid interface name/);
    expect(await w.tables()).toBe(before);
  });

  it('applies the default policies, with a warning, to a guest with no firewall key', async () => {
    w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const guest = await w.dom0.addGuest('plain', { dom0Dev: 'vif3.0', ...net.guest(1) });
    w.writeConfig('plain', 'name = "plain"\n');
    const vif = w.fillVif({ domid: 3, devid: 0, name: 'plain' });
    await listenTcp(guest, 22);
    await listenTcp(uplink, 8080);
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(false);
    expect(await tcpConnects(guest, ip(uplink.cidr4), 8080)).toBe(true);
    expect(w.log()).toMatch(/warning: .*plain\.cfg has no firewall key/);
  });

  it('filters traffic between two managed guests with both guests rules', async () => {
    w = await createHookWorld();
    const a = await w.dom0.addGuest('a', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const b = await w.dom0.addGuest('b', { dom0Dev: 'vif3.0', ...net.guest(1) });
    w.writeConfig('a', 'firewall = [ "allow in tcp 22", "drop out tcp 2222" ]\n');
    w.writeConfig('b', 'firewall = [ "allow in tcp 22", "allow in tcp 2222" ]\n');
    for (const [g, domid, name] of [[a, 2, 'a'], [b, 3, 'b']] as const) {
      for (const port of [22, 23, 2222]) await listenTcp(g, port);
      expect((await w.online(w.fillVif({ domid, devid: 0, name }))).exitCode).toBe(0);
    }
    expect(await tcpConnects(a, ip(b.cidr4), 22)).toBe(true);
    expect(await tcpConnects(a, ip(b.cidr4), 23)).toBe(false); // b's in policy
    expect(await tcpConnects(a, ip(b.cidr4), 2222)).toBe(false); // a's out rule, though b allows it
    expect(await tcpConnects(b, ip(a.cidr4), 22)).toBe(true);
    expect(await tcpConnects(b, ip(a.cidr4), 2222)).toBe(false); // a's in policy
  });

  it('works under FORWARD policy DROP and leaves unmanaged ports to it', async () => {
    const { uplink, guest, vif } = await georgeUp();
    const other = await w.dom0.addGuest('other', { dom0Dev: 'vif9.0', attach: true, ...net.guest(9) });
    for (const tool of ['iptables', 'ip6tables']) await w.dom0.exec(tool, ['-P', 'FORWARD', 'DROP']);
    await listenTcp(guest, 22);
    await listenTcp(other, 22);
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(true);
    expect(await tcpConnects(uplink, ip(guest.cidr6!), 22)).toBe(true);
    expect(await tcpConnects(uplink, ip(other.cidr4), 22)).toBe(false); // not ours: FORWARD's policy decides
    expect(await w.tables()).not.toContain('vif9.0');
  });

  it('leaves an unmanaged guest on the same bridge untouched', async () => {
    const { uplink, guest, vif } = await georgeUp();
    const other = await w.dom0.addGuest('other', { dom0Dev: 'vif9.0', attach: true, ...net.guest(9) });
    await listenTcp(guest, 23);
    await listenTcp(other, 23);
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await tcpConnects(uplink, ip(other.cidr4), 23)).toBe(true);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 23)).toBe(false);
  });

  it('filters an HVM guest emulated NIC (add/remove type_if=tap) with the same rules', async () => {
    w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const tap = await w.dom0.addGuest('hvm', { dom0Dev: 'vif4.0-emu', ...net.guest(4) });
    w.writeConfig('hvm', RULES);
    const vif = w.fillVif({ domid: 4, devid: 0, name: 'hvm', type: 'vif_ioemu' });
    const before = await w.tables();
    await listenTcp(tap, 22);
    await listenTcp(tap, 23);
    // libxl calls the script for both devices; the tap's online/offline is a no-op.
    expect((await w.run(['online', 'type_if=tap'], vif.tapEnv)).exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
    const r = await w.run(['add', 'type_if=tap'], vif.tapEnv);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect((await w.dom0.link('vif4.0-emu'))?.master).toBe('xenbr0');
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe(''); // only the vif reports connected
    expect(await tcpConnects(uplink, ip(tap.cidr4), 22)).toBe(true);
    expect(await tcpConnects(uplink, ip(tap.cidr4), 23)).toBe(false);
    expect((await w.run(['remove', 'type_if=tap'], vif.tapEnv)).exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
  });

  it('renames to vifname=, filters by that name, and cleans up by it after the device is gone', async () => {
    w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const guest = await w.dom0.addGuest('web', { dom0Dev: 'vif5.0', ...net.guest(5) });
    w.writeConfig('web', RULES);
    const vif = w.fillVif({ domid: 5, devid: 0, name: 'web', vifname: 'web0' });
    const before = await w.tables();
    await listenTcp(guest, 22);
    await listenTcp(guest, 23);
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await w.dom0.link('vif5.0')).toBeUndefined();
    expect((await w.dom0.link('web0'))?.master).toBe('xenbr0');
    expect(await w.tables()).toContain('vif-fw-in-web0');
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(true);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 23)).toBe(false);
    await guest.unplug();
    prepareOfflineLikeLibxl(w.xs, 5, 0);
    expect((await w.offline(vif)).exitCode).toBe(0);
    expect(await w.tables()).toBe(before);
  });

  it('refuses a vifname that another device holds, changing nothing', async () => {
    w = await createHookWorld();
    await w.dom0.addGuest('web', { dom0Dev: 'vif5.0', ...net.guest(5) });
    await w.dom0.exec('ip', ['link', 'add', 'web0', 'type', 'veth', 'peer', 'name', 'web0p']);
    w.writeConfig('web', RULES);
    const vif = w.fillVif({ domid: 5, devid: 0, name: 'web', vifname: 'web0' });
    const before = await w.tables();
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('Cannot rename interface vif5.0. An interface with name web0 already exists.');
    expect(await w.tables()).toBe(before);
    expect(await w.dom0.link('vif5.0')).toMatchObject({ up: false, master: undefined });
  });

  it('finds the config through the xl create parent, wherever the file lives', async () => {
    const { uplink, guest, vif } = await georgeUp();
    const elsewhere = `${w.dom0.tmpDir}/elsewhere`;
    await w.dom0.exec('mkdir', ['-p', elsewhere]);
    await w.dom0.exec('cp', [`${w.configDir}/george.cfg`, `${elsewhere}/george-test.cfg`]);
    await w.dom0.exec('rm', [`${w.configDir}/george.cfg`]);
    const r = await w.onlineUnderXlCreate(`${elsewhere}/george-test.cfg`, vif);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(w.log()).toContain(`config=${elsewhere}/george-test.cfg`);
    await listenTcp(guest, 22);
    expect(await tcpConnects(uplink, ip(guest.cidr4), 22)).toBe(true);
  });

  it('forgets the guest conntrack entries on offline', async () => {
    const { uplink, guest, vif } = await georgeUp();
    await listenTcp(guest, 22);
    expect((await w.online(vif)).exitCode).toBe(0);
    const held = await holdTcpConnection(uplink, ip(guest.cidr4), 22);
    const entries = async () => String((await w.dom0.exec('conntrack', ['-L', '-d', ip(guest.cidr4)], { reject: false })).stdout);
    expect(await entries()).toContain('dport=22');
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    expect((await w.offline(vif)).exitCode).toBe(0);
    expect(await entries()).not.toContain('dport=22');
    await held.close();
  });

  it('enables br_netfilter when it is off, and says so in the log', async () => {
    const { vif } = await georgeUp();
    await w.dom0.exec('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0']);
    expect((await w.online(vif)).exitCode).toBe(0);
    expect(await w.dom0.sysctl('net.bridge.bridge-nf-call-iptables')).toBe('1');
    expect(w.log()).toMatch(/warning: .*set net\.bridge\.bridge-nf-call-iptables=1/);
  });
});

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, HOOK, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, holdTcpConnection, listenTcp, requireRoot, tcpConnects, type Peer } from '../support/netns.js';

/** The rule language's newer matches and named sets, judged by real packets in the namespace world. */

const RAWIP = resolve('test/support/rawip.py');
const ip = (cidr: string) => cidr.split('/')[0]!;
const token = () => `vfwt${randomBytes(6).toString('hex')}`;

afterEach(destroyAllDom0s);

/** How many datagrams of IP protocol `proto` sent from `from` to `to` arrive (each carries one token). */
async function rawArrivals(from: Peer, to: Peer, family: 4 | 6, proto: number, count = 1): Promise<number> {
  const t = token();
  const recv = to.exec('python3', [RAWIP, 'recv', String(family), String(proto), '30'], { reject: false });
  try {
    await new Promise<void>((done) => recv.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && done()));
    await from.exec('python3', [RAWIP, 'send', family === 4 ? to.ipv4 : to.ipv6!, String(proto), t, String(count)]);
    // Whatever passes arrives within a bridge hop: then the receiver, ours, is stopped.
    await new Promise((done) => setTimeout(done, 500));
  } finally {
    recv.kill('SIGTERM');
  }
  return String((await recv).stdout).split('\n').filter((l) => l === t).length;
}

/** Whether a TCP connection from `from`, from source port sport, is established. */
async function tcpConnectsFromPort(from: Peer, addr: string, port: number, sport: number): Promise<boolean> {
  const r = await from.exec('nc', ['-n', '-z', '-w', '1', '-p', String(sport), addr, String(port)], { reject: false, timeout: 5000 });
  return r.exitCode === 0;
}

describe.skipIf(!requireRoot('rule language tests'))('rule language: matches', () => {
  it('protocols, source ports, negation, limit and log, for real packets', async () => {
    const w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const partner = await w.dom0.addHost('partner', net.partner);
    const guest = await w.dom0.addGuest('lang', { dom0Dev: 'vif4.0', ...net.guest(0) });
    w.writeConfig(
      'lang',
      `name = "lang"
firewall = [
  "allow in tcp 22 from !${partner.ipv4}",
  "allow in gre",
  "allow in proto 112",
  "allow in tcp 8080 sport 2000-2100",
  "allow in proto 253 limit 5/second burst 5",
  "drop in tcp 23 log",
]
`,
    );
    for (const port of [22, 23, 8080]) await listenTcp(guest, port);
    const vif = w.fillVif({ domid: 4, devid: 0, name: 'lang', ip: `${guest.ipv4} ${guest.ipv6}` });
    const r = await w.online(vif);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);

    // The kernel holds exactly what was compiled: status sees no drift.
    expect((await w.run(['status'])).stdout).toMatch(/^1 vif: 1 ok; firewall in force/);

    // Negation: everyone but the partner; not 192.0.2.77 is every IPv6 source.
    expect(await tcpConnects(uplink, guest.ipv4, 22)).toBe(true);
    expect(await tcpConnects(partner, guest.ipv4, 22)).toBe(false);
    expect(await tcpConnects(partner, guest.ipv6!, 22)).toBe(true);

    // Protocols without ports, by name and by number, in both families; others still dropped.
    expect(await rawArrivals(uplink, guest, 4, 47)).toBe(1);
    expect(await rawArrivals(uplink, guest, 6, 47)).toBe(1);
    expect(await rawArrivals(uplink, guest, 6, 112)).toBe(1);
    expect(await rawArrivals(uplink, guest, 4, 50)).toBe(0);

    // Source ports.
    expect(await tcpConnectsFromPort(uplink, guest.ipv4, 8080, 2050)).toBe(true);
    expect(await tcpConnectsFromPort(uplink, guest.ipv4, 8080, 3050)).toBe(false);

    // Limit: of a flood of 40, the burst of 5 passes (and what the rate refills meanwhile), the rest meets the policy.
    const arrived = await rawArrivals(uplink, guest, 4, 253, 40);
    expect(arrived).toBeGreaterThanOrEqual(5);
    expect(arrived).toBeLessThanOrEqual(8);

    // Log: the LOG rule before the drop counts the packet, with a prefix naming the rule's file and line.
    expect(await tcpConnects(uplink, guest.ipv4, 23)).toBe(false);
    const save = String((await w.dom0.exec('iptables-save', ['-c', '-t', 'filter'])).stdout);
    const logLine = save.split('\n').find((l) => l.includes('-j LOG --log-prefix "vfw lang.cfg:8 "'));
    expect(logLine).toMatch(/^\[([1-9]\d*):\d+\] -A vif-fw-in-vif4\.0 -p tcp -m tcp --dport 23 -m limit/);
  });
});

describe.skipIf(!requireRoot('named set tests'))('rule language: named sets', () => {
  it('one set for two guests, swapped by reload --sets: held connections go on, a new member gets in at once, a removed one is cut', async () => {
    const admins = (...members: string[]) => `set_admins = [ ${members.map((m) => `"${m}"`).join(', ')} ]\n`;
    const w: HookWorld = await createHookWorld(admins(ip(net.uplink.ipv4), '2001:db8:ffff::/48'));
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const partner = await w.dom0.addHost('partner', net.partner);
    const guests: Peer[] = [];
    for (const [n, name] of ['george', 'fred'].entries()) {
      const guest = await w.dom0.addGuest(name, { dom0Dev: `vif${5 + n}.0`, ...net.guest(n) });
      w.writeConfig(name, `name = "${name}"\nfirewall = [ "allow in tcp 22 from @admins" ]\n`);
      await listenTcp(guest, 22);
      const r = await w.online(w.fillVif({ domid: 5 + n, devid: 0, name, ip: `${guest.ipv4} ${guest.ipv6}` }));
      expect(r.stderr).toBe('');
      guests.push(guest);
    }
    const sets = async () => String((await w.dom0.exec('ipset', ['list', '-n'])).stdout).split('\n').sort();
    expect(await sets()).toEqual(['vfw4-admins', 'vfw6-admins']);

    const held = await Promise.all(guests.map((g) => holdTcpConnection(uplink, g.ipv4, 22)));
    for (const g of guests) expect(await tcpConnects(partner, g.ipv4, 22)).toBe(false);
    const chains = async () => (await w.tables()).replace(/\[\d+:\d+\]/g, '');
    const before = await chains();

    const conf = readFileSync(w.settingsFile, 'utf8');
    writeFileSync(w.settingsFile, conf.replace(/set_admins = .*\n/, admins(ip(net.uplink.ipv4), ip(net.partner.ipv4), ip(net.partner.ipv6))));
    const r = await w.run(['reload', '--sets']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('swapped set admins: 2 IPv4 and 1 IPv6 members');

    for (const c of held) expect(await c.flows(3000)).toBe(true);
    for (const g of guests) {
      expect(await tcpConnects(partner, g.ipv4, 22)).toBe(true);
      expect(await tcpConnects(partner, g.ipv6!, 22)).toBe(true);
    }
    // No guest's chain was rewritten, and the temporary sets are gone.
    expect(await chains()).toBe(before);
    expect(await sets()).toEqual(['vfw4-admins', 'vfw6-admins']);
    for (const c of held) await c.close();

    // A member removed: its established connection is cut, as a guest's reload cuts what its rules no longer allow.
    const fromPartner = await holdTcpConnection(partner, guests[0]!.ipv4, 22);
    const fromUplink = await holdTcpConnection(uplink, guests[0]!.ipv4, 22);
    writeFileSync(w.settingsFile, conf.replace(/set_admins = .*\n/, admins(ip(net.uplink.ipv4))));
    const again = await w.run(['reload', '--sets']);
    // The partner's held connection, and the entries its earlier probes left in conntrack.
    expect(again.stdout).toMatch(/^swapped set admins: 1 IPv4 and 0 IPv6 members\n\d+ established connections the new members no longer allow cut$/);
    expect(await fromUplink.flows(3000)).toBe(true);
    expect(await fromPartner.flows(3000)).toBe(false);
    expect(await tcpConnects(partner, guests[1]!.ipv4, 22)).toBe(false);
    for (const c of [fromPartner, fromUplink]) await c.close();

    // The set goes with its last user, not before.
    const [george, fred] = [0, 1].map((n) => w.fillVif({ domid: 5 + n, devid: 0, name: ['george', 'fred'][n]!, ip: `${guests[n]!.ipv4} ${guests[n]!.ipv6}` }));
    expect((await w.offline(george!)).exitCode).toBe(0);
    expect(await sets()).toEqual(['vfw4-admins', 'vfw6-admins']);
    expect((await w.offline(fred!)).exitCode).toBe(0);
    expect(await sets()).toEqual(['']);
  });

  it('an unknown set fails online with its position, and leaves the host as it was', async () => {
    const w = await createHookWorld('set_admins = [ "192.0.2.1" ]\n');
    await w.dom0.addGuest('bad', { dom0Dev: 'vif7.0', ...net.guest(0) });
    const file = w.writeConfig('bad', 'name = "bad"\nfirewall = [\n  "allow in tcp 22 from @admin",\n]\n');
    const before = await w.tables();
    const r = await w.online(w.fillVif({ domid: 7, devid: 0, name: 'bad' }));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${file}:3:25: unknown set "@admin"`);
    expect(r.stderr).toContain('did you mean admins?');
    expect(await w.tables()).toBe(before);
    expect(String((await w.dom0.exec('ipset', ['list', '-n'])).stdout)).toBe('');
  });
});

describe('rule language: check', () => {
  const check = (...files: string[]) =>
    execa(HOOK, ['check', ...files], { reject: false, stdin: 'ignore', env: { VIF_FIREWALL_CONF: 'test/fixtures/lang/vif-firewall.conf' } });

  it('passes a config using every new form, whose sets are all used', async () => {
    const r = await check('test/fixtures/lang/every.cfg');
    expect(r.stdout).toBe('test/fixtures/lang/every.cfg: ok');
    expect(r.exitCode).toBe(0);
  });

  it('warns, at their definitions, about sets none of the checked configs uses', async () => {
    const r = await check('test/fixtures/xl/george.cfg');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.includes('vif-firewall.conf'))).toEqual(
      ['admins:2', 'internal:3', 'v4only:4'].map((s) => {
        const [name, line] = s.split(':');
        return `test/fixtures/lang/vif-firewall.conf:${line}:1: warning: set ${name} is used by none of the configs checked (no rule names @${name})`;
      }),
    );
  });
});

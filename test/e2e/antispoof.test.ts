import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { framesArriving, FRAMES } from '../support/frames.js';
import { destroyAllDom0s, listenTcp, pings, requireRoot, tcpConnects, type Peer } from '../support/netns.js';

/**
 * Anti-spoofing end to end: a guest that forges its addresses, claims a neighbour's address
 * by ARP, or answers DHCP and router solicitations for the bridge, with real (crafted) frames;
 * and a guest's traffic to dom0 itself under its out rules.
 */

const DOM0 = '192.0.2.2';
const ip = (cidr: string) => cidr.split('/')[0]!;

const config = (extra: string) => `name = "george"
firewall = [
  "allow in ping",
  "drop out tcp 9999",
${extra}]
`;

afterEach(destroyAllDom0s);

/** The MAC `ns` holds for addr, or undefined. */
async function neighbour(ns: Peer, addr: string): Promise<string | undefined> {
  const r = await ns.exec('ip', ['-j', 'neigh', 'show', addr, 'dev', 'eth0']);
  return (JSON.parse(String(r.stdout)) as { lladdr?: string }[])[0]?.lladdr;
}

/**
 * A gratuitous ARP (IPv4) or an unsolicited neighbour advertisement (IPv6) from `guest` claiming
 * `victim`'s address: true when `observer`'s entry for victim moved to guest's MAC.
 */
async function claimTakesOver(family: 4 | 6, guest: Peer, victim: Peer, observer: Peer): Promise<boolean> {
  const addr = family === 4 ? victim.ipv4 : victim.ipv6!;
  expect(await pings(observer, addr)).toBe(true);
  expect(await neighbour(observer, addr)).toBe(victim.mac);
  await sleep(1100); // the kernel ignores updates within locktime (1 s) of the last one
  await guest.exec('/usr/bin/python3', [FRAMES, 'send', 'eth0', family === 4 ? 'garp' : 'na', addr]);
  await sleep(200);
  return (await neighbour(observer, addr)) === guest.mac;
}

const ROGUE = ['dhcp-discover', 'dhcp-offer', 'dhcpv6-reply', 'router-advertisement'];

describe.skipIf(!requireRoot('anti-spoofing end-to-end tests'))('anti-spoofing', () => {
  let w: HookWorld;

  /** george online with these extra rules and config lines, and xenstore ip ('': no ip=). */
  async function world({ rules = '', head = '', ipKey = '192.0.2.10 2001:db8::a' } = {}) {
    w = await createHookWorld('', { ipv4: `${DOM0}/24` });
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const partner = await w.dom0.addHost('partner', net.partner);
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    w.writeConfig('george', head + config(rules));
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ...(ipKey ? { ip: ipKey } : {}) });
    const r = await w.online(vif);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    // The foreign addresses a spoofing guest gives itself.
    await guest.exec('ip', ['addr', 'add', '192.0.2.99/24', 'dev', 'eth0']);
    await guest.exec('ip', ['addr', 'add', '2001:db8::99/64', 'dev', 'eth0', 'nodad']);
    await listenTcp(uplink, 8080);
    return { uplink, partner, guest };
  }

  it('full: only its own addresses and MAC get out, no rogue DHCP or RA, and its out rules guard dom0', async () => {
    const { uplink, partner, guest } = await world();
    const u4 = ip(uplink.cidr4);
    const u6 = ip(uplink.cidr6!);
    expect(await tcpConnects(guest, u4, 8080)).toBe(true);
    expect(await tcpConnects(guest, u4, 8080, '192.0.2.99')).toBe(false);
    expect(await tcpConnects(guest, u6, 8080, '2001:db8::a')).toBe(true); // Linux would pick ::99, added last
    expect(await tcpConnects(guest, u6, 8080, '2001:db8::99')).toBe(false);

    await listenTcp(w.dom0, 9998);
    await listenTcp(w.dom0, 9999);
    expect(await tcpConnects(guest, DOM0, 9998)).toBe(true);
    expect(await tcpConnects(guest, DOM0, 9999)).toBe(false); // drop out tcp 9999, on INPUT
    expect(await tcpConnects(guest, DOM0, 9998, '192.0.2.99')).toBe(false); // anti-spoofing before dom0, too

    const claims = await Promise.all([
      claimTakesOver(4, guest, partner, uplink),
      claimTakesOver(4, guest, uplink, partner),
      claimTakesOver(6, guest, partner, uplink),
    ]);
    expect(claims).toEqual([false, false, false]);
    expect(await framesArriving(uplink, guest, ROGUE)).toEqual(['dhcp-discover']);

    await guest.exec('ip', ['link', 'set', 'eth0', 'address', '00:16:3e:99:99:99']);
    expect(await pings(guest, u4)).toBe(false);
    await guest.exec('ip', ['link', 'set', 'eth0', 'address', guest.mac]);
    expect(await pings(guest, u4)).toBe(true);

    const dry = await w.run(['online', 'vif2.0', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout + dry.stderr).toContain(`nft -f -`);
    expect(dry.stdout + dry.stderr).toContain(`add rule bridge vif-fw vif-fw-vif2.0 ether saddr != ${guest.mac} drop`);
  });

  it('firewall_antispoof = "off" lets the forged traffic through (the tests above can fail)', async () => {
    const { uplink, partner, guest } = await world({ head: 'firewall_antispoof = "off"\n' });
    expect(await tcpConnects(guest, ip(uplink.cidr4), 8080, '192.0.2.99')).toBe(true);
    expect(await tcpConnects(guest, ip(uplink.cidr6!), 8080, '2001:db8::99')).toBe(true);
    expect(await Promise.all([claimTakesOver(4, guest, partner, uplink), claimTakesOver(6, guest, partner, uplink)])).toEqual([true, true]);
    expect(await framesArriving(uplink, guest, ROGUE)).toEqual([...ROGUE].sort());
    expect(w.log()).toMatch(/anti-spoofing is off/);
  });

  it('without ip=: the MAC is still enforced, the log says how to turn IP anti-spoofing on; reload changes the level', async () => {
    const { uplink, guest } = await world({ ipKey: '' });
    expect(await tcpConnects(guest, ip(uplink.cidr4), 8080, '192.0.2.99')).toBe(true);
    await guest.exec('ip', ['link', 'set', 'eth0', 'address', '00:16:3e:99:99:99']);
    expect(await pings(guest, ip(uplink.cidr4))).toBe(false);
    expect(w.log()).toMatch(/IP anti-spoofing is off for this vif: no ip= in its vif spec .*ip=/);

    // reload applies a changed level: with the checks gone, the new MAC gets through
    w.writeConfig('george', `firewall_antispoof = "off"\n${config('')}`);
    expect((await w.run(['reload', 'george'])).exitCode).toBe(0);
    for (const peer of [guest, uplink]) await peer.exec('ip', ['neigh', 'flush', 'all']); // forget the old MAC
    expect(await pings(guest, ip(uplink.cidr4))).toBe(true);
    expect(JSON.parse(readFileSync(`${w.stateDir}/vifs/vif2.0.json`, 'utf8'))).toMatchObject({ antispoof: 'off', mac: '00:16:3e:00:02:00' });
  });

  it('fails closed on a MAC it cannot read: one message, tables unchanged, vif off the bridge', async () => {
    w = await createHookWorld();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    w.writeConfig('george', config(''));
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', mac: '00:16:3e:00:02' });
    const before = await w.tables();
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe('vif-firewall: xenstore backend/vif/2/0/mac: "00:16:3e:00:02" is not a MAC address (expected six hex pairs, 00:16:3e:12:34:56)');
    expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('error');
    expect(await w.tables()).toBe(before);
    expect((await w.dom0.link('vif2.0'))?.master).toBeUndefined();
  });

  it('allow out dhcp-server lets a guest serve DHCP, and nothing else of the rogue kinds', async () => {
    const { uplink, guest } = await world({ rules: '  "allow out dhcp-server",\n' });
    expect(await framesArriving(uplink, guest, ROGUE)).toEqual(['dhcp-discover', 'dhcp-offer']);
  });
});

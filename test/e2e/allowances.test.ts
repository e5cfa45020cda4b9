import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framesArriving } from '../support/frames.js';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, listenTcp, listenUdp, requireRoot, tcpConnects, udpReaches, type Peer } from '../support/netns.js';

/**
 * The traffic a guest's network cannot do without passes whatever its policies: each item of
 * the README's always-allowed list, as crafted frames, with `policy in drop` and `policy out
 * drop` and no rule at all. Everything else is dropped both ways.
 */

const GUEST6 = '2001:db8::a';
/** What the guest sends: DHCP and DHCPv6 as a client, router solicitation, neighbour discovery, MLD. */
const OUT = { 4: ['dhcp-discover'], 6: ['dhcpv6-solicit', 'router-solicitation', 'ns', 'na', 'mld-query', 'mld-report', 'mld-done', 'mld2-report'] };
/** What the guest receives: DHCP and DHCPv6 replies, router advertisements, neighbour discovery, MLD queries. */
const IN = { 4: ['dhcp-offer'], 6: ['dhcpv6-reply', 'router-advertisement', 'ns', 'na', 'mld-query'] };

afterAll(destroyAllDom0s);

describe.skipIf(!requireRoot('always-allowed traffic end-to-end tests'))('always allowed, whatever the policy', () => {
  let w: HookWorld;
  let guest: Peer;
  let uplink: Peer;

  beforeAll(async () => {
    w = await createHookWorld();
    uplink = await w.dom0.addHost('uplink', net.uplink);
    guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    w.writeConfig('george', 'name = "george"\nfirewall = [ "policy in drop", "policy out drop" ]\n');
    const r = await w.online(w.fillVif({ domid: 2, devid: 0, name: 'george', ip: `192.0.2.10 ${GUEST6}` }));
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('the policies are in force: other traffic is dropped both ways', async () => {
    await listenTcp(uplink, 8080);
    await listenUdp(guest, 5353);
    expect(await tcpConnects(guest, '192.0.2.1', 8080)).toBe(false);
    expect(await udpReaches(uplink, GUEST6, 5353)).toBe(false);
  });

  it('out: DHCP, DHCPv6 and router solicitations, neighbour discovery, MLD queries, reports and done (ICMPv6 130, 131, 132, 143)', async () => {
    expect(await framesArriving(uplink, guest, OUT[4], guest.ipv4, OUT[4])).toEqual([...OUT[4]].sort());
    expect(await framesArriving(uplink, guest, OUT[6], GUEST6, OUT[6])).toEqual([...OUT[6]].sort());
  });

  it('in: DHCP and DHCPv6 replies, router advertisements, neighbour discovery, MLD queries', async () => {
    expect(await framesArriving(guest, uplink, IN[4], uplink.ipv4, IN[4])).toEqual([...IN[4]].sort());
    expect(await framesArriving(guest, uplink, IN[6], uplink.ipv6!, IN[6])).toEqual([...IN[6]].sort());
  });
});

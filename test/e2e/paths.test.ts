import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHookWorld, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, listenTcp, requireRoot, tcpConnects, type Netns, type Peer } from '../support/netns.js';

/**
 * Every path into a guest meets its `in` rules, once: bridged from another port, sent by dom0
 * itself, routed by dom0 from another interface, and from a guest on another bridge. Real
 * packets, both families, in one simulated dom0 that routes (forwarding on):
 *
 *   xenbr0 (dom0 192.0.2.1, 2001:db8::1): george (managed, vif2.0), ann (managed, vif4.0), uplink (unmanaged)
 *   xenbr1 (dom0 198.51.100.1, 2001:db8:1::1): fred (managed, vif3.0)
 *   lan0 (dom0 203.0.113.1, 2001:db8:2::1, no bridge): lan, a host dom0 routes to
 *
 * george allows in tcp 22 only (default policy in drop); every other port of it must be closed
 * on every path, and 22 open.
 */

const GEORGE = { ipv4: '192.0.2.10/24', ipv6: '2001:db8::a/64', gateway4: '192.0.2.1', gateway6: '2001:db8::1' };
const ANN = { ipv4: '192.0.2.14/24', ipv6: '2001:db8::e/64', gateway4: '192.0.2.1', gateway6: '2001:db8::1' };
const FRED = { ipv4: '198.51.100.10/24', ipv6: '2001:db8:1::a/64', gateway4: '198.51.100.1', gateway6: '2001:db8:1::1' };
const LAN = { ipv4: '203.0.113.2/24', ipv6: '2001:db8:2::2/64', gateway4: '203.0.113.1', gateway6: '2001:db8:2::1' };

const addr = (cidr: string) => cidr.split('/')[0]!;
const george = { 4: addr(GEORGE.ipv4), 6: addr(GEORGE.ipv6) } as const;

afterAll(destroyAllDom0s);

describe.skipIf(!requireRoot('traffic path end-to-end tests'))('every path into a guest meets its in rules', () => {
  let w: HookWorld;
  const peers: Record<string, Peer> = {};

  beforeAll(async () => {
    w = await createHookWorld('', { ipv4: '192.0.2.1/24', ipv6: '2001:db8::1/64', forwarding: true });
    await w.dom0.addBridge('xenbr1', { ipv4: '198.51.100.1/24', ipv6: '2001:db8:1::1/64' });
    peers.george = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...GEORGE });
    peers.ann = await w.dom0.addGuest('ann', { dom0Dev: 'vif4.0', ...ANN });
    peers.fred = await w.dom0.addGuest('fred', { dom0Dev: 'vif3.0', ...FRED });
    peers.uplink = await w.dom0.addHost('uplink', { ipv4: '192.0.2.2/24', ipv6: '2001:db8::2/64' });
    peers.lan = await w.dom0.addHost('lan', { ...LAN, dom0Dev: 'lan0', routedVia: { ipv4: '203.0.113.1/24', ipv6: '2001:db8:2::1/64' } });
    w.writeConfig('george', 'name = "george"\nfirewall = [ "allow in tcp 22" ]\n');
    w.writeConfig('ann', 'name = "ann"\nfirewall = [ "policy in accept" ]\n');
    w.writeConfig('fred', 'name = "fred"\nfirewall = [ "policy in accept" ]\n');
    const vifs = [
      w.fillVif({ domid: 2, devid: 0, name: 'george', ip: `${george[4]} ${george[6]}` }),
      w.fillVif({ domid: 4, devid: 0, name: 'ann', ip: `${addr(ANN.ipv4)} ${addr(ANN.ipv6)}` }),
      w.fillVif({ domid: 3, devid: 0, name: 'fred', bridge: 'xenbr1', ip: `${addr(FRED.ipv4)} ${addr(FRED.ipv6)}` }),
    ];
    for (const vif of vifs) {
      const r = await w.online(vif);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    await listenTcp(peers.george!, 22);
    await listenTcp(peers.george!, 80);
  });

  /** Port 22 reachable and port 80 not, from `from` to george, in one family. */
  async function onlyAllowed(from: Netns, family: 4 | 6): Promise<{ allowed: boolean; forbidden: boolean }> {
    return { allowed: await tcpConnects(from, george[family], 22), forbidden: await tcpConnects(from, george[family], 80) };
  }

  for (const family of [4, 6] as const) {
    it(`IPv${family}: dom0's own traffic to the guest (OUTPUT)`, async () => {
      expect(await onlyAllowed(w.dom0, family)).toEqual({ allowed: true, forbidden: false });
    });

    it(`IPv${family}: traffic dom0 routes from another interface to the guest`, async () => {
      expect(await onlyAllowed(peers.lan!, family)).toEqual({ allowed: true, forbidden: false });
    });

    it(`IPv${family}: a guest on another bridge, routed by dom0`, async () => {
      expect(await onlyAllowed(peers.fred!, family)).toEqual({ allowed: true, forbidden: false });
    });

    it(`IPv${family}: bridged traffic, from an unmanaged port and from a managed guest, checked once on each side`, async () => {
      expect(await onlyAllowed(peers.uplink!, family)).toEqual({ allowed: true, forbidden: false });
      expect(await onlyAllowed(peers.ann!, family)).toEqual({ allowed: true, forbidden: false });
      // One new connection from ann: its SYN meets ann's out policy and george's tcp 22 rule exactly once each.
      await w.dom0.exec(family === 4 ? 'iptables' : 'ip6tables', ['-w', '-Z']);
      expect(await tcpConnects(peers.ann!, george[family], 22)).toBe(true);
      expect(await packets(family, '-A vif-fw-in-vif2.0 -p tcp -m tcp --dport 22 -j RETURN')).toBe(1);
      expect(await packets(family, '-A vif-fw-out-vif4.0 -j RETURN')).toBe(1);
    });
  }

  /** Packets the kernel counted for one rule, given as iptables-save prints it. */
  async function packets(family: 4 | 6, rule: string): Promise<number> {
    const save = String((await w.dom0.exec(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-c', '-t', 'filter'])).stdout);
    const counted = save.split('\n').flatMap((l) => {
      const m = /^\[(\d+):\d+\] (.*)$/.exec(l);
      return m && m[2] === rule ? [Number(m[1])] : [];
    });
    expect(counted, save).toHaveLength(1);
    return counted[0]!;
  }
});

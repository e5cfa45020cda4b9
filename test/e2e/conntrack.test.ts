import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHookWorld, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, holdTcpConnection, listenTcp, requireRoot, type HeldConnection, type Peer } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

/**
 * offline leaves no conntrack entry of the guest's addresses, though entries expire while it
 * deletes them (which makes one `conntrack -D` stop half way). TIME_WAIT lasts 1 s here, so
 * entries of the many short connections expire all through the cleanup; some connections
 * stay open. 20 runs of online, traffic, offline.
 */

const RUNS = 20;
const SHORT = 30;
const GUEST = { 4: '192.0.2.10', 6: '2001:db8::a' } as const;

afterAll(destroyAllDom0s);

describe.skipIf(!requireRoot('conntrack end-to-end tests'))('offline forgets every tracked connection of the guest', () => {
  let w: HookWorld;
  let guest: Peer;
  let uplink: Peer;

  beforeAll(async () => {
    w = await createHookWorld();
    uplink = await w.dom0.addHost('uplink', { ipv4: '192.0.2.1/24', ipv6: '2001:db8::1/64' });
    guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ipv4: `${GUEST[4]}/24`, ipv6: `${GUEST[6]}/64` });
    w.writeConfig('george', 'name = "george"\nfirewall = [ "allow in tcp 22" ]\n');
    await w.dom0.exec('sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1']);
    await listenTcp(guest, 22);
    await listenTcp(uplink, 80);
  });

  /** Short connections both ways and both families, all at once: each leaves a TIME_WAIT entry. */
  async function shortConnections(): Promise<void> {
    const burst = (from: Peer, to: string, port: number) =>
      from.exec('bash', ['-c', `for i in $(seq ${SHORT}); do nc -n -z -w 1 ${to} ${port} & done; wait`], { stdin: 'ignore' });
    await Promise.all([burst(uplink, GUEST[4], 22), burst(uplink, GUEST[6], 22), burst(guest, '192.0.2.1', 80), burst(guest, '2001:db8::1', 80)]);
  }

  /** conntrack -L lines (both families) that name one of the guest's addresses. */
  async function guestEntries(): Promise<string[]> {
    const lists = await Promise.all(['ipv4', 'ipv6'].map((f) => w.dom0.exec('conntrack', ['-L', '-f', f], { stdin: 'ignore', reject: false })));
    const mine = new RegExp(`(?:src|dst)=(?:${GUEST[4].replace(/\./g, '\\.')}|${GUEST[6]}) `);
    return lists.flatMap((r) => String(r.stdout).split('\n')).filter((l) => mine.test(l));
  }

  it(`leaves none of TIME_WAIT and open entries, ${RUNS} runs of ${RUNS}`, async () => {
    const left: string[][] = [];
    for (let run = 0; run < RUNS; run++) {
      const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: `${GUEST[4]} ${GUEST[6]}` });
      const up = await w.online(vif);
      expect(up.exitCode, up.stderr).toBe(0);
      // What the last run's closes tried while the guest was off the bridge left neighbours FAILED.
      await Promise.all([guest, uplink].map((p) => p.exec('ip', ['neigh', 'flush', 'all'])));
      const held: HeldConnection[] = await Promise.all([holdTcpConnection(uplink, GUEST[4], 22), holdTcpConnection(uplink, GUEST[6], 22), holdTcpConnection(guest, '192.0.2.1', 80)]);
      await shortConnections();
      const before = await guestEntries();
      expect(before.some((l) => l.includes('TIME_WAIT'))).toBe(true);
      expect(before.some((l) => l.includes('ESTABLISHED'))).toBe(true);
      prepareOfflineLikeLibxl(w.xs, 2, 0);
      const down = await w.offline(vif);
      expect(down.exitCode, down.stderr).toBe(0);
      left.push(await guestEntries());
      await Promise.all(held.map((h) => h.close()));
    }
    expect(left.filter((l) => l.length > 0)).toEqual([]);
    expect(w.log()).not.toMatch(/conntrack: entries of .* are still tracked/);
  }, 600_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHookWorld, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, holdTcpConnection, listenTcp, requireRoot, type HeldConnection, type Peer } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

/**
 * offline leaves no conntrack entry of the guest's addresses, though entries expire while it
 * deletes them (which makes one `conntrack -D` stop half way). TIME_WAIT lasts 2 s here, and
 * new short connections keep coming until offline is done, so entries expire all through the
 * cleanup; some connections stay open. 20 runs of online, traffic, offline.
 */

const RUNS = 20;
/** TIME_WAIT entries of the guest alive at once when offline starts, at least. */
const SHORT = 8;
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
    await w.dom0.exec('sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=2']);
    await listenTcp(guest, 22);
    await listenTcp(uplink, 80);
  });

  /** New short connections every 50 ms from `from` until stopped: each leaves a TIME_WAIT entry. */
  function churn(from: Peer, to: string, port: number) {
    const loop = from.exec('bash', ['-c', `while :; do nc -n -z -w 1 ${to} ${port}; sleep 0.05; done`], { stdin: 'ignore', reject: false });
    return async () => {
      loop.kill('SIGKILL');
      await loop;
    };
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
      const churning = [churn(uplink, GUEST[4], 22), churn(uplink, GUEST[6], 22), churn(guest, '192.0.2.1', 80)];
      let before: string[] = [];
      for (let wait = 0; wait < 50 && !(before.filter((l) => l.includes('TIME_WAIT')).length >= SHORT); wait++) before = await guestEntries();
      expect(before.filter((l) => l.includes('TIME_WAIT')).length).toBeGreaterThanOrEqual(SHORT);
      expect(before.some((l) => l.includes('ESTABLISHED'))).toBe(true);
      prepareOfflineLikeLibxl(w.xs, 2, 0);
      const down = await w.offline(vif);
      await Promise.all(churning.map((stop) => stop()));
      expect(down.exitCode, down.stderr).toBe(0);
      left.push(await guestEntries());
      await Promise.all(held.map((h) => h.close()));
    }
    expect(left.filter((l) => l.length > 0)).toEqual([]);
    expect(w.log()).not.toMatch(/conntrack: entries of .* are still tracked/);
  }, 600_000);
});

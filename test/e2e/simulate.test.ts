import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { Packet } from '../../src/compile/verdict.js';
import { HOOK, createHookWorld, net } from '../support/hook.js';
import { destroyAllDom0s, isRoot, listenTcp, listenUdp, pings, requireRoot, tcpConnects, udpReaches, type Peer } from '../support/netns.js';
import { packet, random, ruleLines } from '../support/generate.js';

/**
 * `simulate` against the kernel: generated rule sets installed by the hook in a simulated dom0,
 * and for a sample of generated packets, what simulate says is what a real packet meets.
 * (test/unit/simulate.test.ts checks every generated packet against the compiled chains.)
 */

const ip = (cidr: string) => cidr.split('/')[0]!;
const RULE_SETS = 4;
const PACKETS_PER_SET = 6;
/** Ports the generated rules name one way or another (ssh, dns, http, 1000-2000), few, so that few listeners start. */
const PORTS = [22, 53, 80, 1500];

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('simulate end-to-end tests'))('vif-firewall simulate agrees with real packets', () => {
  it(`on ${RULE_SETS * PACKETS_PER_SET} generated packets against ${RULE_SETS} generated rule sets`, async () => {
    const w = await createHookWorld();
    const uplink = await w.dom0.addHost('uplink', net.uplink);
    const partner = await w.dom0.addHost('partner', net.partner);
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const hosts: Record<string, Peer> = { [ip(uplink.cidr4)]: uplink, [ip(uplink.cidr6!)]: uplink, [ip(partner.cidr4)]: partner, [ip(partner.cidr6!)]: partner };
    const mine = { 4: ip(guest.cidr4), 6: ip(guest.cidr6!) } as const;
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: `${mine[4]} ${mine[6]}` });
    const pool = { remotes: { 4: [ip(uplink.cidr4), ip(partner.cidr4)], 6: [ip(uplink.cidr6!), ip(partner.cidr6!)] }, icmpTypes: { 4: [8], 6: [128] }, ports: PORTS };

    const rnd = random(2026);
    const cases = Array.from({ length: RULE_SETS }, () => ({
      lines: ruleLines(rnd, 4 + Math.floor(rnd() * 5)),
      packets: Array.from({ length: PACKETS_PER_SET }, () => packet(rnd, mine, pool)),
    }));
    // A listener for each port a packet goes to, on its receiver.
    const receivers = new Map(cases.flatMap((c) => c.packets.filter((p) => p.dport !== undefined).map((p) => [`${receiver(p).name} ${p.proto} ${p.dport}`, p] as const)));
    const wanted = [...receivers.values()];
    // A few at a time: each is a process that must be up within 5 s on a loaded machine.
    for (let i = 0; i < wanted.length; i += 3) await Promise.all(wanted.slice(i, i + 3).map((p) => (p.proto === 'tcp' ? listenTcp : listenUdp)(receiver(p), p.dport!)));

    const verdicts = new Set<string>();
    for (const [set, { lines, packets }] of cases.entries()) {
      w.writeConfig('george', `name = "george"\nfirewall = [\n${lines.map((l) => `  "${l}",`).join('\n')}\n]\n`);
      const up = set === 0 ? await w.online(vif) : await w.run(['reload', 'george']);
      expect(up.exitCode, up.stderr).toBe(0);
      const tables = await w.tables();
      const said = await Promise.all(packets.map(simulated));
      expect(await w.tables()).toBe(tables); // simulate changes nothing
      for (const [n, p] of packets.entries()) {
        const passed = await sent(p);
        expect({ passed, said: said[n]!.text }, JSON.stringify({ rules: lines, packet: p })).toEqual({ passed: said[n]!.verdict === 'allow', said: said[n]!.text });
        verdicts.add(said[n]!.verdict);
      }
    }
    // Both outcomes were met, so agreement is not the same answer every time.
    expect(verdicts.has('allow') && (verdicts.has('drop') || verdicts.has('reject'))).toBe(true);

    function receiver(p: Packet): Peer {
      return p.direction === 'in' ? guest : hosts[p.destination!]!;
    }

    async function simulated(p: Packet): Promise<{ verdict: string; text: string }> {
      const what = p.proto === 'icmp' || p.proto === 'icmpv6' ? String(p.icmpType) : String(p.dport);
      const r = await w.run(['simulate', 'george', p.direction, p.proto, what, 'from', p.source!, 'to', p.destination!, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const [result] = JSON.parse(r.stdout).results as { verdict: string; text: string }[];
      return result!;
    }

    /** Whether a real packet like p gets through: sent from the remote host to the guest, or from the guest. */
    async function sent(p: Packet): Promise<boolean> {
      const [from, to] = [p.direction === 'in' ? hosts[p.source!]! : guest, p.destination!];
      if (p.proto === 'tcp') return tcpConnects(from, to, p.dport!);
      if (p.proto === 'udp') return udpReaches(from, to, p.dport!);
      return pings(from, to);
    }
  }, 240_000);
});

describe('vif-firewall simulate without root', () => {
  it('runs as nobody on a config it can read, and says the verdict with its origin', async () => {
    const dir = mkdtempSync('/tmp/vfwt-simulate-');
    chmodSync(dir, 0o755);
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const settings = join(dir, 'vif-firewall.conf');
    writeFileSync(settings, 'group_web = [ "allow in tcp 80", "allow in tcp 443" ]\n', { mode: 0o644 });
    const file = join(dir, 'web.cfg');
    writeFileSync(file, 'name = "web"\nfirewall = [\n  "use web",\n]\n', { mode: 0o644 });
    const asNobody = isRoot ? ['runuser', '-u', 'nobody', '--', HOOK] : [HOOK];
    const r = await execa(asNobody[0]!, [...asNobody.slice(1), 'simulate', file, 'in', 'tcp', '443', 'from', '192.0.2.1'], { reject: false, env: { VIF_FIREWALL_CONF: settings } });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${file}: vif 0 (firewall), in tcp 443 from 192.0.2.1:\n  IPv4: allow by web.cfg:3 via group web (vif-firewall.conf:1): "allow in tcp 443"`);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createDom0,
  destroyAllDom0s,
  holdTcpConnection,
  listenTcp,
  listenUdp,
  listNetns,
  pings,
  requireRoot,
  tcpConnects,
  udpReaches,
  withDom0,
  type Dom0,
  type Peer,
} from '../support/netns.js';
import { FakeXenstore, fillVifLikeLibxl, prepareOfflineLikeLibxl } from '../support/xenstore.js';

// Proves the test harness itself: the fake xenstore clients, and the simulated dom0.

describe('fake xenstore: the bash clients in test/support/bin', () => {
  let xs: FakeXenstore;
  beforeEach(() => {
    xs = FakeXenstore.temp();
  });
  afterEach(() => xs.remove());
  const xsc = (cmd: string, ...args: string[]) => execa(cmd, args, { env: xs.env(), reject: false, stdin: 'ignore' });

  it('writes and reads, relative paths under /local/domain/0, parents created', async () => {
    expect((await xsc('xenstore-write', 'backend/vif/2/0/ip', '192.0.2.10', '/local/domain/2/name', 'george')).exitCode).toBe(0);
    expect(xs.read('/local/domain/0/backend/vif/2/0/ip')).toBe('192.0.2.10');
    expect(xs.read('/local/domain/0/backend/vif/2/0')).toBe(''); // a parent without a value
    const r = await xsc('xenstore-read', 'backend/vif/2/0/ip', '/local/domain/0/backend/vif/2/0/ip', '/local/domain/2/name');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('192.0.2.10\n192.0.2.10\ngeorge');
    xs.write('backend/vif/2/0/mac', '00:16:3e:00:00:02');
    expect((await xsc('xenstore-read', '/local/domain/0/backend/vif/2/0/mac')).stdout).toBe('00:16:3e:00:00:02');
    expect((await xsc('xenstore-read', 'backend/vif/2/0')).stdout).toBe('');
  });

  it("a missing key: `couldn't read path`, exit 1, values read before it still printed", async () => {
    xs.write('/a', '1');
    const r = await xsc('xenstore-read', '/a', 'backend/nope', '/a');
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('1');
    expect(r.stderr).toBe("xenstore-read: couldn't read path backend/nope");
    expect((await xsc('xenstore-read', '/bad.name')).exitCode).toBe(1); // '.' is not a valid node name
    expect((await xsc('xenstore-exists', '/a')).exitCode).toBe(0);
    expect((await xsc('xenstore-exists', '/b')).exitCode).toBe(1);
  });

  it('rm: subtree; missing node fine when its parent exists; else exit 1 and nothing removed', async () => {
    xs.write('backend/vif/2/0/ip', 'x');
    xs.write('backend/vif/2/0/mac', 'y');
    xs.write('backend/vif/2/1/ip', 'z');
    expect((await xsc('xenstore-rm', 'backend/vif/2/0')).exitCode).toBe(0);
    expect(xs.exists('/local/domain/0/backend/vif/2/0')).toBe(false);
    expect(xs.read('backend/vif/2/1/ip')).toBe('z');
    expect((await xsc('xenstore-rm', 'backend/vif/2/0')).exitCode).toBe(0); // parent vif/2 exists: ok, as xenstored
    const r = await xsc('xenstore-rm', 'backend/vif/2/1', '/local/domain/7/device/vif/0');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe('xenstore-rm: could not remove path /local/domain/7/device/vif/0');
    expect(xs.read('backend/vif/2/1/ip')).toBe('z'); // one transaction: nothing removed
    expect((await xsc('xenstore-rm', '/')).exitCode).toBe(1);
    xs.write('/t/a/b/c', 'v');
    expect((await xsc('xenstore-rm', '-t', '/t/a/b/c')).exitCode).toBe(0);
    expect(xs.exists('/t')).toBe(false); // -t tidies empty, valueless parents
  });

  it('ls -f, list, and value escaping like the real tools', async () => {
    xs.write('/vm/u/name', 'george');
    xs.write('/vm/u/image', 'a\tb\\c');
    const ls = await xsc('xenstore-ls', '-f', '/vm');
    expect(ls.stdout).toBe('/vm/u = ""\n/vm/u/image = "a\\tb\\\\c"\n/vm/u/name = "george"');
    expect((await xsc('xenstore-list', '/vm/u')).stdout).toBe('image\nname');
    expect((await xsc('xenstore-read', '/vm/u/image')).stdout).toBe('a\\tb\\\\c');
    await xsc('xenstore-write', '/vm/u/x', 'p\\tq');
    expect(xs.read('/vm/u/x')).toBe('p\tq');
    await xsc('xenstore-write', '-R', '/vm/u/y', 'p\\tq');
    expect(xs.read('/vm/u/y')).toBe('p\\tq');
    await xsc('xenstore-write', '--', '/vm/u/z', '-1');
    expect(xs.read('/vm/u/z')).toBe('-1');
  });

  it('logs one line per invocation, with absolute paths', async () => {
    xs.clearLog();
    await xsc('xenstore-write', 'backend/vif/2/0/hotplug-status', 'connected');
    await xsc('xenstore-read', 'backend/vif/2/0/hotplug-status', '/nope');
    await xsc('xenstore-rm', 'backend/vif/2/0/hotplug-status');
    expect(xs.log()).toEqual([
      'write /local/domain/0/backend/vif/2/0/hotplug-status=connected',
      'read /local/domain/0/backend/vif/2/0/hotplug-status /nope',
      'rm /local/domain/0/backend/vif/2/0/hotplug-status',
    ]);
  });

  it('concurrent writers never leave a torn value', async () => {
    const values = Array.from({ length: 24 }, (_, i) => `value-${i}-${'x'.repeat(2000 + i)}`);
    await Promise.all(values.map((v) => xsc('xenstore-write', '/race', v)));
    expect(values).toContain(xs.read('/race'));
    expect(readFileSync(join(xs.root, '.log'), 'utf8').split('\n').filter(Boolean)).toHaveLength(24);
  });

  it('fillVifLikeLibxl writes what libxl writes before online; prepareOfflineLikeLibxl what it does before offline', () => {
    const vif = fillVifLikeLibxl(xs, {
      domid: 2,
      devid: 0,
      name: 'george',
      mac: '00:16:3e:00:00:02',
      ip: '192.0.2.10',
      script: '/etc/xen/scripts/vif-firewall',
      uuid: '11111111-2222-3333-4444-555555555555',
    });
    expect(vif.env).toEqual({
      script: '/etc/xen/scripts/vif-firewall',
      XENBUS_TYPE: 'vif',
      XENBUS_PATH: 'backend/vif/2/0',
      XENBUS_BASE_PATH: 'backend',
      netdev: '',
      vif: 'vif2.0',
    });
    expect(vif.tapEnv.INTERFACE).toBe('vif2.0-emu');
    const be = '/local/domain/0/backend/vif/2/0';
    expect(xs.dump(be)).toEqual({
      [`${be}/bridge`]: 'xenbr0',
      [`${be}/frontend`]: '/local/domain/2/device/vif/0',
      [`${be}/frontend-id`]: '2',
      [`${be}/handle`]: '0',
      [`${be}/hotplug-status`]: '',
      [`${be}/ip`]: '192.0.2.10',
      [`${be}/mac`]: '00:16:3e:00:00:02',
      [`${be}/online`]: '1',
      [`${be}/script`]: '/etc/xen/scripts/vif-firewall',
      [`${be}/state`]: '2',
      [`${be}/type`]: 'vif',
    });
    expect(xs.read('/local/domain/2/vm')).toBe('/vm/11111111-2222-3333-4444-555555555555');
    expect(xs.read('/vm/11111111-2222-3333-4444-555555555555/name')).toBe('george');
    expect(xs.read('/local/domain/2/device/vif/0/backend')).toBe(be);
    prepareOfflineLikeLibxl(xs, 2, 0);
    expect(xs.exists('/local/domain/2/device/vif/0')).toBe(false);
    expect([xs.read(`${be}/online`), xs.read(`${be}/state`), xs.read(`${be}/hotplug-status`)]).toEqual(['0', '6', undefined]);
  });
});

describe.skipIf(!requireRoot())('simulated dom0 in network namespaces', () => {
  let dom0: Dom0;
  let uplink: Peer;
  let george: Peer; // attached directly (unmanaged)
  let paul: Peer; // like a vif at hotplug time: DOWN, not attached
  let hostLinks: string;
  const hostLinkNames = async () =>
    (await execa('ip', ['-o', 'link', 'show'])).stdout
      .split('\n')
      .map((l) => l.split(':')[1]?.trim())
      .join(' ');

  beforeAll(async () => {
    hostLinks = await hostLinkNames();
    dom0 = await createDom0();
    uplink = await dom0.addHost('uplink', { ipv4: '192.0.2.1/24', ipv6: '2001:db8::1/64' });
    george = await dom0.addGuest('george', { dom0Dev: 'vif2.0', ipv4: '192.0.2.10/24', ipv6: '2001:db8::10/64', attach: true });
    paul = await dom0.addGuest('paul', { dom0Dev: 'vif3.0', ipv4: '192.0.2.20/24', ipv6: '2001:db8::20/64' });
    await Promise.all([
      ...[uplink, george, paul].flatMap((p) => [listenTcp(p, 22), listenTcp(p, 23), listenUdp(p, 53)]),
      listenTcp(george, 2222),
    ]);
  });
  afterAll(destroyAllDom0s);

  it('dom0 has its bridge and per-netns br_netfilter sysctls; an unattached guest looks like a fresh vif', async () => {
    expect(await dom0.link('xenbr0')).toMatchObject({ up: true });
    expect(await dom0.sysctl('net.bridge.bridge-nf-call-iptables')).toBe('1');
    expect(await dom0.sysctl('net.bridge.bridge-nf-call-ip6tables')).toBe('1');
    expect(await dom0.link('vif3.0')).toEqual({ name: 'vif3.0', up: false, operstate: 'DOWN', mtu: 1500, mac: 'fe:ff:ff:ff:ff:ff', master: undefined });
    expect(await dom0.link('vif2.0')).toMatchObject({ up: true, master: 'xenbr0' });
    expect(await dom0.link('h-uplink')).toMatchObject({ up: true, master: 'xenbr0' });
    expect(await dom0.link('nope0')).toBeUndefined();
    expect(dom0.namespaces).toEqual([dom0.name, uplink.name, george.name, paul.name]);
    expect(dom0.namespaces.every((n) => n.startsWith('vfwt-'))).toBe(true);
  });

  it('an attached guest and the uplink talk both ways: TCP v4 and v6, UDP, ping', async () => {
    const results = await Promise.all([
      tcpConnects(uplink, george.ipv4, 22),
      tcpConnects(george, uplink.ipv4, 22),
      tcpConnects(uplink, george.ipv6!, 22),
      tcpConnects(george, uplink.ipv6!, 22),
      udpReaches(uplink, george.ipv4, 53),
      udpReaches(george, uplink.ipv6!, 53),
      pings(uplink, george.ipv4),
      pings(george, uplink.ipv6!),
    ]);
    expect(results).toEqual(Array(8).fill(true));
  });

  it('probes fail when nothing listens, and a guest that is not attached is unreachable', async () => {
    const t0 = Date.now();
    const results = await Promise.all([
      tcpConnects(uplink, george.ipv4, 24), // nothing listens: refused at once
      tcpConnects(uplink, paul.ipv4, 22),
      tcpConnects(paul, uplink.ipv6!, 22),
      udpReaches(uplink, paul.ipv4, 53),
      pings(uplink, paul.ipv4),
      pings(paul, uplink.ipv6!),
    ]);
    expect(results).toEqual(Array(6).fill(false));
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('a physdev rule in dom0 (br_netfilter in the netns) blocks port 23 but not 22, v4 and v6', async () => {
    const rule = ['FORWARD', '-m', 'physdev', '--physdev-is-bridged', '--physdev-out', george.dom0Dev, '-p', 'tcp', '--dport', '23', '-j', 'DROP'];
    await dom0.exec('iptables', ['-A', ...rule]);
    await dom0.exec('ip6tables', ['-A', ...rule]);
    try {
      const saved4 = await dom0.iptablesSave(4);
      const saved6 = await dom0.iptablesSave(6);
      const line = `-A FORWARD -p tcp -m physdev --physdev-out ${george.dom0Dev} --physdev-is-bridged -m tcp --dport 23 -j DROP`;
      expect(saved4).toContain(line);
      expect(saved6).toContain(line);
      const t0 = Date.now();
      const results = await Promise.all([
        tcpConnects(uplink, george.ipv4, 22),
        tcpConnects(uplink, george.ipv6!, 22),
        tcpConnects(uplink, george.ipv4, 23),
        tcpConnects(uplink, george.ipv6!, 23),
        tcpConnects(george, uplink.ipv4, 23), // the other direction is not matched
      ]);
      expect(results).toEqual([true, true, false, false, true]);
      expect(Date.now() - t0).toBeLessThan(2500); // a DROP is seen within ~1 s
      // Snapshots ignore counters (which the probes just moved) and comments: byte-equal.
      await dom0.exec('iptables', ['-I', 'FORWARD', '-j', 'ACCEPT']);
      await dom0.exec('iptables', ['-D', 'FORWARD', '-j', 'ACCEPT']);
      expect(await dom0.iptablesSave(4)).toBe(saved4);
      expect(await dom0.iptablesSave(6)).toBe(saved6);
      expect(saved4).not.toMatch(/^#|\[\d+:\d+\]/m);
    } finally {
      await dom0.exec('iptables', ['-D', ...rule]);
      await dom0.exec('ip6tables', ['-D', ...rule]);
    }
    expect(await dom0.iptablesSave(4)).not.toContain('DROP');
    expect(await tcpConnects(uplink, george.ipv4, 23)).toBe(true);
  });

  it('a held connection stops flowing when blocked and flows again when unblocked', async () => {
    const conn = await holdTcpConnection(uplink, george.ipv4, 2222);
    try {
      expect(await conn.flows()).toBe(true);
      const rule = ['FORWARD', '-m', 'physdev', '--physdev-is-bridged', '--physdev-out', george.dom0Dev, '-p', 'tcp', '--dport', '2222', '-j', 'DROP'];
      await dom0.exec('iptables', ['-I', ...rule]);
      try {
        expect(await conn.flows()).toBe(false);
      } finally {
        await dom0.exec('iptables', ['-D', ...rule]);
      }
      expect(await conn.flows(4000)).toBe(true);
      expect(conn.open).toBe(true);
    } finally {
      await conn.close();
    }
    expect(conn.open).toBe(false);
  });

  it('listeners see the true source addresses', async () => {
    const l = await listenUdp(george, 5353, { family: 4 });
    expect(await udpReaches(uplink, george.ipv4, 5353)).toBe(true);
    expect(l.peers()).toEqual([uplink.ipv4]);
    expect(l.received()).toMatch(/^vfwtudp[0-9a-f]+\n$/);
    await l.stop();
  });

  it('exec runs in the netns with the env given: code under test finds the fake xenstore there', async () => {
    const xs = FakeXenstore.temp();
    try {
      const vif = fillVifLikeLibxl(xs, { domid: 3, devid: 0, name: 'paul', mac: '00:16:3e:00:00:03', script: '/etc/xen/scripts/vif-firewall' });
      const r = await dom0.exec('bash', ['-c', 'xenstore-read "$XENBUS_PATH/mac" && cat "/sys/class/net/$vif/operstate"'], {
        env: { ...xs.env(), ...vif.env },
      });
      expect(r.stdout).toBe('00:16:3e:00:00:03\ndown'); // vif3.0: paul's dom0 end, in dom0's /sys
      expect(xs.log()).toEqual(['read /local/domain/0/backend/vif/3/0/mac']);
    } finally {
      xs.remove();
    }
  });

  it("touches nothing in the host's own netns", async () => {
    expect(await hostLinkNames()).toBe(hostLinks);
  });

  it('destroy() kills processes and deletes every namespace it made; idempotent; withDom0 cleans up on throw', async () => {
    const d = await createDom0({ bridge: 'br-test' });
    const g = await d.addGuest('g', { dom0Dev: 'vif9.0', ipv4: '198.51.100.2/24', attach: true });
    await listenTcp(g, 22);
    const names = [...d.namespaces];
    expect((await listNetns()).filter((n) => names.includes(n)).sort()).toEqual([...names].sort());
    await d.destroy();
    await d.destroy();
    expect(d.destroyed).toBe(true);
    expect((await listNetns()).filter((n) => names.includes(n))).toEqual([]);

    let made: string[] = [];
    await expect(
      withDom0(async (d2) => {
        made = [...d2.namespaces];
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(made).toHaveLength(1);
    expect((await listNetns()).filter((n) => made.includes(n))).toEqual([]);
  });
});

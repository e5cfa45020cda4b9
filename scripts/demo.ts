// The demo of the README's quick start: a simulated dom0 in network namespaces (a bridge,
// an uplink host, a guest behind vif2.0, a file-backed xenstore filled as libxl fills it),
// the README's example config, and the built dist/vif-firewall run exactly as libxl runs it.
// Probes allowed and blocked ports with real connections, runs offline, proves nothing is
// left, and removes every namespace it made. Run as root: npm run demo
import { readFileSync } from 'node:fs';
import { HOOK, createHookWorld, type HookWorld } from '../test/support/hook.js';
import { destroyAllDom0s, isRoot, listenTcp, listenUdp, pings, tcpConnects, udpReaches, type Netns } from '../test/support/netns.js';
import { prepareOfflineLikeLibxl } from '../test/support/xenstore.js';

const GUEST = { v4: '192.0.2.10', v6: '2001:db8::10' };
const UPLINK = { v4: '192.0.2.1', v6: '2001:db8::1' };
/** An address the guest gives itself that xenstore's ip does not list. */
const FORGED = '192.0.2.99';
// Extra addresses of the uplink host, so that george's `from` rules can be probed.
const PARTNER = '198.51.100.5';
const ADMIN = '203.0.113.7';

const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
let failures = 0;

async function probe(what: string, expected: boolean, attempt: () => Promise<boolean>): Promise<void> {
  const passed = await attempt();
  const ok = passed === expected;
  if (!ok) failures++;
  console.log(`  ${ok ? '✔' : '✘'} ${what.padEnd(61)} ${passed ? 'passes' : 'blocked'}${ok ? '' : `  (expected ${expected ? 'passes' : 'blocked'})`}`);
}

async function main(): Promise<void> {
  if (!isRoot) {
    console.error('demo: needs root for network namespaces: sudo npm run demo');
    process.exit(1);
  }
  const config = readFileSync(new URL('../test/fixtures/xl/george.cfg', import.meta.url), 'utf8');
  console.log(bold('The guest config, /etc/xen/george.cfg:'));
  console.log(config.replace(/^/gm, '  '));

  const w: HookWorld = await createHookWorld();
  try {
    const uplink = await w.dom0.addHost('uplink', { ipv4: `${UPLINK.v4}/24`, ipv6: `${UPLINK.v6}/64` });
    const guest = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ipv4: `${GUEST.v4}/24`, ipv6: `${GUEST.v6}/64` });
    for (const a of [PARTNER, ADMIN]) await uplink.exec('ip', ['addr', 'add', `${a}/32`, 'dev', 'eth0']);
    for (const n of ['198.51.100.0/24', '203.0.113.0/24']) await guest.exec('ip', ['route', 'add', n, 'dev', 'eth0']);
    for (const port of [22, 23, 80, 443]) await listenTcp(guest, port);
    await listenUdp(guest, 60000);
    await listenUdp(guest, 59999);
    for (const port of [25, 8080]) await listenTcp(uplink, port);
    w.writeConfig('george', config);
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: `${GUEST.v4} ${GUEST.v6}` });
    const before = await w.tables();

    console.log(bold(`libxl runs: ${HOOK} online type_if=vif`));
    console.log(`  with ${Object.entries(vif.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    const up = await w.online(vif);
    console.log(`  exit ${up.exitCode}, hotplug-status = "${w.xs.read(`${vif.backendPath}/hotplug-status`)}"${up.stderr ? `\n${up.stderr}` : ''}`);
    if (up.exitCode !== 0) throw new Error('online failed');
    const link = await w.dom0.link('vif2.0');
    console.log(`  vif2.0: ${link?.up ? 'up' : 'down'}, on bridge ${link?.master}, mtu ${link?.mtu}`);

    console.log(bold('\nInstalled (iptables-save / ip6tables-save, our chains):'));
    for (const family of [4, 6] as const) {
      console.log(`  IPv${family}:`);
      for (const line of (await w.dom0.iptablesSave(family)).split('\n'))
        if (/VIF-FW|vif-fw-/.test(line)) console.log(`    ${line}`);
    }

    console.log('  anti-spoofing (nft list table bridge vif-fw):');
    for (const line of String((await w.dom0.exec('nft', ['list', 'table', 'bridge', 'vif-fw'])).stdout).split('\n')) console.log(`    ${line}`);

    console.log(bold('\nProbes with real connections:'));
    const from = (ns: Netns, port: number, dst = GUEST.v4, src?: string) => () => tcpConnects(ns, dst, port, src);
    await probe('uplink → guest tcp 22 (allow in tcp 22)', true, from(uplink, 22));
    await probe('uplink → guest tcp 23 (policy in drop)', false, from(uplink, 23));
    await probe(`uplink ${UPLINK.v4} → guest tcp 80 (not in 198.51.100.0/24)`, false, from(uplink, 80));
    await probe(`uplink ${PARTNER} → guest tcp 80 (from 198.51.100.0/24)`, true, from(uplink, 80, GUEST.v4, PARTNER));
    await probe(`uplink ${UPLINK.v6} → guest tcp 443 (from 2001:db8::/32)`, true, from(uplink, 443, GUEST.v6));
    await probe('uplink → guest tcp 22 over IPv6', true, from(uplink, 22, GUEST.v6));
    await probe('uplink → guest udp 60000 (allow in udp 60000-61000)', true, () => udpReaches(uplink, GUEST.v4, 60000));
    await probe('uplink → guest udp 59999', false, () => udpReaches(uplink, GUEST.v4, 59999));
    await probe('uplink → guest ping (allow in icmp echo-request)', true, () => pings(uplink, GUEST.v4));
    await probe('uplink → guest ping over IPv6 (no icmpv6 rule)', false, () => pings(uplink, GUEST.v6));
    await probe('guest → uplink tcp 8080 (policy out accept, replies return)', true, from(guest, 8080, UPLINK.v4));
    await probe('guest → uplink tcp 25 (drop out tcp 25)', false, from(guest, 25, UPLINK.v4));
    await guest.exec('ip', ['addr', 'add', `${FORGED}/24`, 'dev', 'eth0']);
    await probe(`guest → uplink tcp 8080 from ${FORGED}, not its ip= (anti-spoofing)`, false, from(guest, 8080, UPLINK.v4, FORGED));

    console.log(bold(`\nlibxl runs: ${HOOK} offline type_if=vif   (after xl destroy)`));
    await guest.unplug();
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    const down = await w.offline(vif);
    console.log(`  exit ${down.exitCode}${down.stderr ? `\n${down.stderr}` : ''}`);
    const after = await w.tables();
    const clean = after === before && !/VIF-FW|vif-fw-/.test(after);
    if (!clean) failures++;
    console.log(`  ${clean ? '✔' : '✘'} iptables-save, ip6tables-save and nft's bridge tables are byte-for-byte as before online`);

    console.log(bold('\nThe hotplug log:'));
    console.log(w.log().replace(/^/gm, '  ').trimEnd());
  } finally {
    await destroyAllDom0s();
  }
  console.log(failures === 0 ? bold('\nAll probes as expected; every namespace removed.') : bold(`\n${failures} probe(s) not as expected.`));
  process.exit(failures === 0 ? 0 : 1);
}

main().catch(async (e: unknown) => {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  await destroyAllDom0s();
  process.exit(1);
});

import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, net } from '../support/hook.js';
import { destroyAllDom0s, listenTcp, requireRoot, tcpConnects } from '../support/netns.js';

/** Shared groups and the host's defaults from the settings file, judged by real packets. */

// createHookWorld writes four lines of its own before these: group_web is line 5.
const SETTINGS = `group_web = [ "allow in tcp 80", "allow in tcp 443" ]
group_admin = [ "allow in tcp 22 from 192.0.2.1" ]
firewall_default = [ "use admin" ]
`;
const ip = (cidr: string) => cidr.split('/')[0]!;

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('group end-to-end tests'))('groups and firewall_default', () => {
  it('a guest gets the host defaults and the groups it uses; a guest that opts out only its own rules', async () => {
    const w = await createHookWorld(SETTINGS);
    const uplink = await w.dom0.addHost('uplink', net.uplink); // 192.0.2.1
    const partner = await w.dom0.addHost('partner', net.partner); // 192.0.2.77
    const george = await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const fred = await w.dom0.addGuest('fred', { dom0Dev: 'vif3.0', ...net.guest(1) });
    for (const g of [george, fred]) for (const port of [22, 80, 443, 8080]) await listenTcp(g, port);
    w.writeConfig('george', 'name = "george"\nfirewall = [\n  "allow in tcp 8080",\n  "use web",\n]\n');
    w.writeConfig('fred', 'name = "fred"\nfirewall_default = "off"\nfirewall = [ "use web" ]\n');
    const up = [w.fillVif({ domid: 2, devid: 0, name: 'george' }), w.fillVif({ domid: 3, devid: 0, name: 'fred' })];
    for (const vif of up) {
      const r = await w.online(vif);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    }

    const [g, f] = [ip(george.cidr4), ip(fred.cidr4)];
    expect(await tcpConnects(uplink, g, 80)).toBe(true); // group web
    expect(await tcpConnects(uplink, ip(george.cidr6!), 443)).toBe(true);
    expect(await tcpConnects(uplink, g, 8080)).toBe(true); // its own rule
    expect(await tcpConnects(uplink, g, 22)).toBe(true); // the default, through group admin
    expect(await tcpConnects(partner, g, 22)).toBe(false); // not from the admin's address
    expect(await tcpConnects(uplink, f, 80)).toBe(true); // group web
    expect(await tcpConnects(uplink, f, 22)).toBe(false); // opted out of the defaults
    expect(await tcpConnects(uplink, f, 8080)).toBe(false);

    const show = await w.run(['show', 'george']);
    expect(show.exitCode, show.stderr).toBe(0);
    expect(show.stdout).toContain('vif-firewall.conf:7 (firewall_default) via group admin (vif-firewall.conf:6): allow traffic to the guest, TCP to port 22');
    expect(show.stdout).toContain('george.cfg:3: allow traffic to the guest, TCP to port 8080');
    expect(show.stdout).toContain('george.cfg:4 via group web (vif-firewall.conf:5): allow traffic to the guest, TCP to port 443');
    const json = JSON.parse((await w.run(['show', 'george', '--json'])).stdout);
    expect(json.rules.map((r: { origin: { text: string } }) => r.origin.text)).toEqual([
      'vif-firewall.conf:7 (firewall_default) via group admin (vif-firewall.conf:6)',
      'george.cfg:3',
      'george.cfg:4 via group web (vif-firewall.conf:5)',
      'george.cfg:4 via group web (vif-firewall.conf:5)',
    ]);
  });

  it('fails closed on an unknown group and a cycle: every error, file:line:col, nothing installed', async () => {
    const w = await createHookWorld(`${SETTINGS}group_a = [ "use b" ]\ngroup_b = [ "use a" ]\n`);
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const file = w.writeConfig('george', 'name = "george"\nfirewall = [ "use wbe", "use a" ]\n');
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george' });
    const before = await w.tables();
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    const errors = [`${file}:2:19: unknown group "wbe" (did you mean web?)`, `${w.settingsFile}:9:18: group cycle: a → b → a`];
    for (const e of errors) {
      expect(r.stderr).toContain(e);
      expect(w.xs.read(`${vif.backendPath}/hotplug-error`)).toContain(e);
      expect(w.log()).toContain(e);
    }
    expect(await w.tables()).toBe(before);
    const sim = await w.run(['simulate', 'george', 'in', 'tcp', '80']);
    expect(sim.exitCode).toBe(1);
    expect(sim.stderr).toContain(`${file}:2:19: error: unknown group "wbe"`);
    expect(sim.stderr).toContain(`\n  firewall = [ "use wbe", "use a" ]\n${' '.repeat(2 + 18)}^\n`);
  });
});

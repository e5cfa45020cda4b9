import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, requireRoot } from '../support/netns.js';

/** `status` holds the whole path into each guest to what online installed: every way to break it exits 1, reload --all brings back 0. */

const RULES = 'name = "george"\nfirewall = [ "allow in tcp 22", "allow in udp 443" ]\n';
const ip = (cidr: string) => cidr.split('/')[0]!;

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('status tests'))('vif-firewall status', () => {
  let w: HookWorld;

  async function twoGuests() {
    w = await createHookWorld();
    const files = [];
    for (const [n, name] of [[2, 'george'], [3, 'mildred']] as const) {
      const guest = await w.dom0.addGuest(name, { dom0Dev: `vif${n}.0`, ...net.guest(n) });
      files.push(w.writeConfig(name, RULES.replace('george', name)));
      const vif = w.fillVif({ domid: n, devid: 0, name, ip: `${ip(guest.cidr4)} ${ip(guest.cidr6!)}` });
      expect((await w.online(vif)).exitCode).toBe(0);
    }
    return files;
  }

  const status = async (...args: string[]) => {
    const r = await w.run(['status', ...args]);
    return { ...r, first: r.stdout.split('\n')[0] };
  };

  it('exits 1 after each way the path is broken, and 0 once reload --all has run', async () => {
    await twoGuests();
    const ok = await status();
    expect(ok.stderr).toBe('');
    expect(ok.first).toBe('2 vifs: 2 ok; firewall in force');
    expect(ok.exitCode).toBe(0);

    const breakages: [string, string[], RegExp][] = [
      ['FORWARD jump deleted', ['iptables', '-D', 'FORWARD', '-j', 'VIF-FW'], /firewall NOT in force: IPv4 FORWARD lacks "-j VIF-FW"/],
      ['INPUT jump deleted', ['ip6tables', '-D', 'INPUT', '-j', 'VIF-FW-INPUT'], /firewall NOT in force: IPv6 INPUT lacks "-j VIF-FW-INPUT"/],
      ['bridge-nf sysctl off', ['sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=0'], /NOT in force: net\.bridge\.bridge-nf-call-ip6tables is 0/],
      ['bridge table deleted', ['nft', 'delete', 'table', 'bridge', 'vif-fw'], /NOT in force: the nft table bridge vif-fw is missing/],
      ['nft flush ruleset', ['nft', 'flush', 'ruleset'], /^2 vifs: 2 missing; firewall NOT in force/],
      ['a map entry deleted', ['nft', 'delete', 'element', 'bridge', 'vif-fw', 'vifs', '{ "vif3.0" }'], /^2 vifs: 1 ok, 1 modified; firewall NOT in force for vif3\.0/],
      ['a vif chain edited', ['iptables', '-I', 'vif-fw-in-vif2.0', '3', '-p', 'tcp', '--dport', '25', '-j', 'RETURN'], /^2 vifs: 1 ok, 1 modified; firewall NOT in force for vif2\.0/],
      ['a dispatch rule deleted', ['iptables', '-D', 'VIF-FW-IN', '-m', 'physdev', '--physdev-out', 'vif3.0', '--physdev-is-bridged', '-j', 'vif-fw-in-vif3.0'], /^2 vifs: 1 ok, 1 modified/],
    ];
    for (const [what, command, says] of breakages) {
      await w.dom0.exec(command[0]!, command.slice(1));
      const broken = await status();
      expect(broken.exitCode, what).toBe(1);
      expect(broken.stdout, what).toMatch(says);
      const json = JSON.parse((await status('--json')).stdout);
      expect(json, what).toMatchObject({ version: 1, inForce: false, exitCode: 1 });
      const fixed = await w.run(['reload', '--all']);
      expect(fixed.exitCode, what).toBe(0);
      const again = await status();
      expect(again.first, what).toBe('2 vifs: 2 ok; firewall in force');
      expect(again.exitCode, what).toBe(0);
    }
  }, 300_000);

  it('shows a hand edit as the spec lines that differ, and config drift as rule words', async () => {
    const [george] = await twoGuests();
    await w.dom0.exec('iptables', ['-R', 'vif-fw-in-vif2.0', '3', '-p', 'tcp', '--dport', '2222', '-j', 'RETURN']);
    const edited = await status('george');
    expect(edited.exitCode).toBe(1);
    expect(edited.stdout).toContain('vif2.0 (george): the kernel differs from what was installed: vif-firewall repair\n');
    expect(edited.stdout).toMatch(/ {2}- IPv4 vif-fw-in-vif2\.0 -p udp -m udp --sport 67 --dport 68 -j RETURN\n {2}\+ IPv4 vif-fw-in-vif2\.0 -p tcp -m tcp --dport 2222 -j RETURN/);
    expect((await w.run(['repair'])).exitCode).toBe(0);
    expect((await status()).exitCode).toBe(0);

    writeFileSync(george!, RULES.replace('udp 443', 'udp 8443'));
    const drift = await status();
    expect(drift.exitCode).toBe(1);
    expect(drift.first).toBe('2 vifs: 1 ok, 1 drift; firewall in force');
    expect(drift.stdout).toContain('vif2.0 (george): george.cfg has changed since it was applied: vif-firewall reload vif2.0\n  - allow in udp 443\n  + allow in udp 8443');
    const dry = await w.run(['reload', 'george', '--dry-run']);
    expect(dry.stdout).toMatch(/^would reload vif2\.0 \(george, device vif2\.0\): 2 rules from .*george\.cfg; 0 established connections cut\n {2}- allow in udp 443\n {2}\+ allow in udp 8443$/);
    const dryJson = JSON.parse((await w.run(['reload', 'george', '--dry-run', '--json'])).stdout);
    expect(dryJson).toMatchObject({ version: 1, dryRun: true, vifs: [{ vif: 'vif2.0', changes: [{ sign: '-', text: 'allow in udp 443' }, { sign: '+', text: 'allow in udp 8443' }] }] });
    expect((await w.run(['reload', 'george'])).exitCode).toBe(0);
    expect((await status()).exitCode).toBe(0);
  });

  it('exits 2 for a domain it does not manage, and logs a failed reload', async () => {
    const [george] = await twoGuests();
    const none = await status('nosuch');
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('no managed vif matches "nosuch"');
    writeFileSync(george!, 'name = "george"\nfirewall = [ "allow in tcp 99999" ]\n');
    const r = await w.run(['reload', 'george']);
    expect(r.exitCode).toBe(1);
    expect(w.log()).toMatch(/ err: reload george: failed: .*george\.cfg:2:28: port 99999 out of range 1-65535\n$/);
    const broken = await status('george');
    expect(broken.first).toBe('1 vif: 1 config-error; firewall in force');
    expect(broken.exitCode).toBe(1);
  });
});

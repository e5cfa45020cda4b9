import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, net, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, requireRoot } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

/**
 * Hostile and mistaken input, end to end: names that point at someone else's device or
 * file, input that could hang a call or break its report. Each case must leave the host
 * as it was and say why, in one line, wherever the failure is reported.
 */

const CONFIG = (name: string) => `name = "${name}"\nfirewall = [ "allow in tcp 22" ]\n`;

/** Devices of dom0 that are not george's (domain 2): a bridge, a NIC, a bridge port, lo, another domain's vif. */
const NOT_GEORGES = ['xenbr0', 'eth1', 'peth1', 'lo', 'vif7.0'];

afterEach(destroyAllDom0s);

/** Links (bridge timers aside: they tick), addresses and every table, for byte-for-byte comparisons. */
async function hostState(w: HookWorld): Promise<string> {
  const json = async (args: string[]) => String((await w.dom0.exec('ip', args)).stdout);
  const links = JSON.stringify(JSON.parse(await json(['-d', '-j', 'link'])), (k, v: unknown) => (k.endsWith('_timer') ? undefined : v), 1);
  return `${links}\n${await json(['-j', 'addr'])}\n${await w.tables()}`;
}

/** How long the hook itself took, from its log line ("… in N ms"). */
function loggedMs(log: string, what: RegExp): number {
  const line = log.split('\n').find((l) => what.test(l));
  const m = / in (\d+) ms/.exec(line ?? '');
  if (!m) throw new Error(`no log line matching ${what} with a duration in:\n${log}`);
  return Number(m[1]);
}

describe.skipIf(!requireRoot('hostile input end-to-end tests'))('hostile and malformed input', () => {
  let w: HookWorld;

  /** dom0 with an uplink (peth1, a bridge port), a NIC eth1 with an address, and domain 7 online on vif7.0. */
  async function hostile() {
    w = await createHookWorld();
    await w.dom0.addHost('uplink', { ...net.uplink, dom0Dev: 'peth1' });
    await w.dom0.exec('ip', ['-batch', '-'], {
      input: 'link add eth1 type veth peer name eth1p\naddress add 198.51.100.1/24 dev eth1\nlink set eth1 up\n',
    });
    await w.dom0.addGuest('other', { dom0Dev: 'vif7.0', ...net.guest(7) });
    w.writeConfig('other', CONFIG('other'));
    expect((await w.online(w.fillVif({ domid: 7, devid: 0, name: 'other' }))).exitCode).toBe(0);
    w.writeConfig('george', CONFIG('george'));
  }

  /** george's vif (domain 2) as libxl fills it, with nothing left of an earlier fill. */
  function georgeVif(vifname?: string) {
    w.xs.rm('/local/domain/0/backend/vif/2/0');
    return w.fillVif({ domid: 2, devid: 0, name: 'george', ...(vifname === undefined ? {} : { vifname }) });
  }

  it("online refuses a vifname or vif that names a device that is not the guest's, touching nothing", async () => {
    await hostile();
    for (const target of NOT_GEORGES) {
      const vif = georgeVif(target);
      const before = await hostState(w);
      const r = await w.online(vif);
      expect(r.exitCode, target).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`refusing to touch ${target.replace('.', '\\.')}: ${target} is .*, not the vif of domain 2 device 0`));
      expect(w.xs.read(`${vif.backendPath}/hotplug-status`)).toBe('error');
      expect(await hostState(w), target).toBe(before);
    }
    // The device in the environment must be the one XENBUS_PATH names.
    const vif = georgeVif();
    const before = await hostState(w);
    const r = await w.run(['online', 'type_if=vif'], { ...vif.env, vif: 'peth1' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/vif="peth1" and XENBUS_PATH="backend\/vif\/2\/0" name different devices/);
    // An emulated NIC must be a tap: a bridge of that name is not.
    await w.dom0.exec('ip', ['link', 'add', 'vif2.0-emu', 'type', 'bridge']);
    const tapBefore = await hostState(w);
    const tap = await w.run(['add', 'type_if=tap'], { ...vif.tapEnv });
    expect(tap.exitCode).toBe(1);
    expect(tap.stderr).toMatch(/refusing to touch vif2\.0-emu: vif2\.0-emu is not a tap device/);
    expect(await hostState(w)).toBe(tapBefore);
    await w.dom0.exec('ip', ['link', 'del', 'vif2.0-emu']);
    expect(await hostState(w)).toBe(before);
  }, 180_000);

  it("offline leaves a device that is not the guest's alone, and removes only the rules recorded", async () => {
    await hostile();
    for (const target of NOT_GEORGES) {
      const vif = georgeVif(target);
      prepareOfflineLikeLibxl(w.xs, 2, 0);
      const before = await hostState(w);
      const r = await w.offline(vif);
      expect(r.exitCode, `${target}: ${r.stderr}`).toBe(0);
      expect(await hostState(w), target).toBe(before);
      expect(w.log()).toContain(`left ${target} alone: ${target} is `);
    }
    // A record, and a device by the recorded name that is no longer the guest's.
    const guestless = await hostState(w);
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const vif = georgeVif();
    expect((await w.online(vif)).exitCode).toBe(0);
    await w.dom0.guests.find((g) => g.label === 'george')!.unplug();
    await w.dom0.exec('ip', ['-batch', '-'], { input: 'link add vif2.0 type bridge\nlink set vif2.0 up\n' });
    const impostor = await w.dom0.link('vif2.0');
    prepareOfflineLikeLibxl(w.xs, 2, 0);
    const r = await w.offline(vif);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await w.dom0.link('vif2.0')).toEqual(impostor);
    expect(w.log()).toMatch(/left vif2\.0 alone: vif2\.0 is a bridge, not the vif of domain 2 device 0/);
    await w.dom0.exec('ip', ['link', 'del', 'vif2.0']);
    expect(await hostState(w)).toBe(guestless);
  }, 180_000);

  it('refuses a vif and XENBUS_PATH of different domains, writing nothing to either', async () => {
    await hostile();
    await w.dom0.addGuest('d611', { dom0Dev: 'vif611.0', ...net.guest(1) });
    w.writeConfig('d612', 'name = "d612"\nfirewall = [ "policy in accept" ]\n');
    const v611 = w.fillVif({ domid: 611, devid: 0, name: 'd611' });
    const v612 = w.fillVif({ domid: 612, devid: 0, name: 'd612' });
    const before = await hostState(w);
    const r = await w.run(['online', 'type_if=vif'], { ...v612.env, vif: 'vif611.0' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/vif="vif611\.0" and XENBUS_PATH="backend\/vif\/612\/0" name different devices \(libxl passes vif612\.0/);
    expect(await hostState(w)).toBe(before);
    for (const v of [v611, v612]) {
      expect(w.xs.read(`${v.backendPath}/hotplug-status`)).toBe('');
      expect(w.xs.exists(`${v.backendPath}/hotplug-error`)).toBe(false);
    }
  });

  it('never looks a domain name with ../ up as a file', async () => {
    await hostile();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    writeFileSync(join(w.configDir, '..', 'x.cfg'), 'firewall = [ "policy in accept" ]\n');
    const vif = w.fillVif({ domid: 2, devid: 0, name: '../x' });
    const before = await hostState(w);
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no domain config for "\.\.\/x": a name with '\/'/);
    expect(await hostState(w)).toBe(before);
  });

  it('fails at once on a config or settings file that is a named pipe, and other guests do not wait', async () => {
    await hostile();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    await w.dom0.addGuest('fred', { dom0Dev: 'vif3.0', ...net.guest(3) });
    await w.dom0.exec('rm', [join(w.configDir, 'george.cfg')]);
    await w.dom0.exec('mkfifo', [join(w.configDir, 'george.cfg')]);
    w.writeConfig('fred', CONFIG('fred'));
    const george = w.fillVif({ domid: 2, devid: 0, name: 'george' });
    const fred = w.fillVif({ domid: 3, devid: 0, name: 'fred' });
    const started = Date.now();
    const [g, f] = await Promise.all([w.online(george), w.online(fred)]);
    expect(Date.now() - started).toBeLessThan(10_000); // a blocked read would last until libxl's kill (40 s)
    expect(g.exitCode).toBe(1);
    expect(g.stderr).toMatch(/domain config .*george\.cfg is not a regular file \(a named pipe\)/);
    // A blocked read lasts until libxl kills the call; the refusal itself is timed in the unit test
    // (test/unit/hostile.test.ts), since here the fake xenstore's shell scripts dominate under load.
    expect(loggedMs(w.log(), /vif=vif2\.0 .*failed in/)).toBeLessThan(5000);
    expect(f.exitCode, f.stderr).toBe(0);

    const fifo = join(w.dom0.tmpDir, 'settings.fifo');
    await w.dom0.exec('mkfifo', [fifo]);
    const t0 = Date.now();
    const s = await w.run(['offline', 'type_if=vif'], { ...george.env, VIF_FIREWALL_CONF: fifo });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(s.exitCode).toBe(1);
    expect(s.stderr).toMatch(/settings .*settings\.fifo is not a regular file \(a named pipe\)/);
  });

  it('reports a NUL, a newline or a megabyte in the input as one escaped line that xenstore takes', async () => {
    await hostile();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const vif = georgeVif();
    const cases: [string, () => void, RegExp][] = [
      ['NUL in a rule', () => w.writeConfig('george', 'firewall = [ "allow in tcp 22\0" ]\n'), /\\x00/],
      ['1 MB token', () => w.writeConfig('george', `firewall = [ "allow in icmp ${'x'.repeat(1_000_000)}" ]\n`), /bytes, cut\)/],
      ['newline in the domain name', () => w.xs.write('/local/domain/2/name', 'geo\nrge'), /no domain config for "geo\\nrge"/],
      ['newline in vifname', () => w.xs.write(`${vif.backendPath}/vifname`, 'web\n0'), /"web\\n0" is not a valid interface name/],
      ['newline in mac', () => w.xs.write(`${vif.backendPath}/mac`, '00:16:3e:00:02:00\nforged'), /mac: .*\\nforged/],
      ['100 KB mac', () => w.xs.write(`${vif.backendPath}/mac`, 'a'.repeat(100_000)), /mac: /],
    ];
    for (const [what, make, expected] of cases) {
      georgeVif();
      w.writeConfig('george', CONFIG('george'));
      make();
      const before = await hostState(w);
      const lines = w.log().split('\n').length;
      const r = await w.online(vif);
      expect(r.exitCode, what).toBe(1);
      const error = w.xs.read(`${vif.backendPath}/hotplug-error`) ?? '';
      expect(error, what).toMatch(expected);
      expect(error, what).not.toMatch(/[\0\n]/);
      expect(Buffer.byteLength(error), what).toBeLessThan(4096);
      expect(w.xs.read(`${vif.backendPath}/hotplug-status`), what).toBe('error');
      expect(r.stderr.trimEnd().split('\n'), what).toHaveLength(1);
      expect(w.log().split('\n').length, what).toBe(lines + 1);
      expect(w.log().split('\n').at(-2), what).toMatch(/err: online .* failed in \d+ ms: /);
      expect(await hostState(w), what).toBe(before);
    }
    expect(loggedMs(w.log(), /bytes, cut\)/)).toBeLessThan(5000);
  });

  it('gives a positioned error for 100,000 nested brackets, in a domain config and in the settings', async () => {
    await hostile();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const vif = georgeVif();
    const file = w.writeConfig('george', `firewall = ${'['.repeat(100_000)}\n`);
    const before = await hostState(w);
    const r = await w.online(vif);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`vif-firewall: ${file}:1:${12 + 64}: lists nested deeper than 64 levels`);
    expect(await hostState(w)).toBe(before);

    w.writeConfig('george', CONFIG('george'));
    writeFileSync(w.settingsFile, `config_dirs = ${'['.repeat(100_000)}\n`);
    for (const call of [w.online, w.offline]) {
      const s = await call(vif);
      expect(s.exitCode).toBe(1);
      expect(s.stderr).toBe(`vif-firewall: ${w.settingsFile}:1:${15 + 64}: lists nested deeper than 64 levels`);
    }
    expect(await hostState(w)).toBe(before);
  });

  it('refuses a relative or empty state_dir or log_file, which would depend on the caller\'s directory', async () => {
    await hostile();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const vif = georgeVif();
    const settings = (await import('node:fs')).readFileSync(w.settingsFile, 'utf8');
    const before = await hostState(w);
    for (const [line, message] of [
      ['state_dir = "run"', 'state_dir must be an absolute path, not "run"'],
      ['state_dir = ""', 'state_dir must be an absolute path, not ""'],
      ['log_file = "hotplug.log"', 'log_file must be an absolute path, not "hotplug.log"'],
    ]) {
      writeFileSync(w.settingsFile, `${settings}${line}\n`);
      const r = await w.online(vif);
      expect(r.exitCode, line).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`vif-firewall\\.conf:\\d+:\\d+: ${message}`));
      expect(await hostState(w)).toBe(before);
    }
  });
});

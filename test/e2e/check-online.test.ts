import { appendFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHookWorld, net } from '../support/hook.js';
import { destroyAllDom0s, requireRoot } from '../support/netns.js';

/** `check` gives online's verdict on a config: each case is run through both, and their exit codes must agree. */

const MAC = '00:16:3e:00:02:00';
const vifList = (ip: string) => `vif = [ "mac=${MAC},bridge=xenbr0,ip=${ip}" ]\n`;

interface Case {
  readonly what: string;
  readonly config: string;
  /** Appended to the hook's settings file. */
  readonly settings?: string;
  /** The vif spec's ip=, which xl hands to online through xenstore. */
  readonly ip?: string;
  /** check's line about it: `<file>:line:col: …` with the file left out. */
  readonly says: RegExp;
}

const CASES: Case[] = [
  { what: 'a misspelt anti-spoofing level', config: 'firewall_antispoof = "ful"\nfirewall = [ "allow in tcp 22" ]\n', says: /^:3:22: error: firewall_antispoof must be one of "full", "mac", "off", not "ful"$/ },
  { what: 'a bad address in ip=', config: 'firewall = [ "allow in tcp 22" ]\n', ip: '10.0.0.300', says: /^:2:49: error: vif 0: ip: "10\.0\.0\.300" is not an IPv4 or IPv6 address$/ },
  { what: 'an unknown key in the settings', config: 'firewall = [ "allow in tcp 22" ]\n', settings: 'frobnicate = 1\n', says: /vif-firewall\.conf:5:1: error: unknown setting "frobnicate"/ },
  { what: 'a misspelt firewall key', config: 'firewal = [ "allow in tcp 22" ]\n', says: /^:3:1: warning: unknown key "firewal", ignored by xl and vif-firewall: did you mean "firewall"\?$/ },
  { what: 'firewall set twice', config: 'firewall = [ "allow in tcp 22" ]\nfirewall = [ "allow in tcp 80" ]\n', says: /^:3:1: warning: "firewall" is set again on line 4: xl keeps only the last, so this one is ignored$/ },
  { what: 'firewall_vif1 with one vif', config: 'firewall = [ "allow in tcp 22" ]\nfirewall_vif1 = [ "allow in tcp 80" ]\n', says: /^:4:1: warning: "firewall_vif1" applies to no vif: the vif list has 1 \(vif 0\)$/ },
  { what: 'allow in with no match', config: 'firewall = [ "allow in tcp 22", "allow in" ]\n', says: /^:3:34: warning: "allow in" allows everything to the guest/ },
  { what: 'policy in accept', config: 'firewall = [ "drop in tcp 23", "policy in accept" ]\n', says: /^:3:32: warning: "policy in accept" lets everything in that no rule drops/ },
];

afterEach(destroyAllDom0s);

describe.skipIf(!requireRoot('check against online'))('vif-firewall check agrees with online', () => {
  it.each(CASES)('$what', async (c) => {
    const w = await createHookWorld();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const ip = c.ip ?? '192.0.2.10';
    const file = w.writeConfig('george', `name = "george"\n${vifList(ip)}${c.config}`);
    if (c.settings) appendFileSync(w.settingsFile, c.settings);

    // By domain name, found as online finds it.
    const check = await w.run(['check', 'george']);
    const lines = check.stdout.split('\n').map((l) => (l.startsWith(file) ? l.slice(file.length) : l));
    expect(lines.some((l) => c.says.test(l)), check.stdout).toBe(true);
    const online = await w.online(w.fillVif({ domid: 2, devid: 0, name: 'george', ip }));
    expect({ check: check.exitCode, online: online.exitCode }, online.stderr).toEqual({ check: online.exitCode, online: online.exitCode });
    const json = JSON.parse((await w.run(['check', 'george', '--json'])).stdout);
    expect(json.version).toBe(1);
    expect(json.ok).toBe(online.exitCode === 0);
    writeFileSync(w.settingsFile, '');
  });

  it('exits 0 for a clean config, which online accepts', async () => {
    const w = await createHookWorld();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const file = w.writeConfig('george', `name = "george"\n${vifList('192.0.2.10')}firewall = [ "allow in tcp 22" ]\n`);
    const check = await w.run(['check', 'george']);
    expect(check.stdout).toBe(`${file}: ok`);
    expect(check.exitCode).toBe(0);
    expect((await w.online(w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10' }))).exitCode).toBe(0);
    expect((await w.run(['check', 'nosuch'])).stdout).toMatch(/^nosuch: error: no domain config for "nosuch"/);
  });
});

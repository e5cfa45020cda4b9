import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { HOOK } from '../support/hook.js';

/** `vif-firewall check`, the built bundle as an admin runs it; needs no root. */

const dir = mkdtempSync(join(tmpdir(), 'vfw-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const check = (...files: string[]) => execa(HOOK, ['check', ...files], { reject: false, stdin: 'ignore' });

describe('vif-firewall check', () => {
  it('passes a clean config and the README example with a warning for its shadowed rule', async () => {
    const clean = write('clean.cfg', 'name = "a"\nfirewall = [ "allow in ssh", "allow in tcp 80,443" ]\n');
    const r = await check(clean, 'test/fixtures/xl/george.cfg');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      `${clean}: ok\ntest/fixtures/xl/george.cfg:9:4: warning: never matches: line 5 ("allow in tcp 22") already decides all of its traffic`,
    );
  });

  it('reports errors as file:line:col and exits 1, with warnings of every firewall key', async () => {
    const file = write(
      'bad.cfg',
      'firewall = [\n  "allow in tcp 22",\n  "allow in tcp 22",\n  "allow in icmp from 192.0.2.1, 2001:db8::1",\n]\nfirewall_vif1 = [ "allow in tcp 99999" ]\n',
    );
    const r = await check(file);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      `${file}:3:4: warning: duplicate of line 2 ("allow in tcp 22")`,
      `${file}:4:4: warning: icmp only matches IPv4: 2001:db8::1 is never used`,
      `${file}:6:33: error: port 99999 out of range 1-65535`,
      '  firewall_vif1 = [ "allow in tcp 99999" ]',
      '                                  ^',
    ]);
  });

  it('reports every error of every key, with the line and a caret, and the groups and defaults of the settings', async () => {
    const settings = write('vif-firewall.conf', 'group_web = [ "allow in tcp 80" ]\nfirewall_default = [ "allow in tcp 22 from 198.51.100.0/24" ]\n');
    const file = write('groups.cfg', 'firewall = [ "use web", "use mail", "allow in tcp 0" ]\nfirewall_vif1 = [ "use web", "allow in tcp 80" ]\n');
    const r = await execa(HOOK, ['check', file], { reject: false, stdin: 'ignore', env: { VIF_FIREWALL_CONF: settings } });
    expect(r.exitCode).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      `${file}:1:30: error: unknown group "mail": groups are defined in ${settings} as group_NAME = [ "…" ]`,
      '  firewall = [ "use web", "use mail", "allow in tcp 0" ]',
      '                               ^',
      `${file}:1:51: error: port 0 out of range 1-65535`,
      '  firewall = [ "use web", "use mail", "allow in tcp 0" ]',
      '                                                    ^',
      `${file}:2:31: warning: duplicate of line 1 ("allow in tcp 80")`,
    ]);
  });

  it('reports a syntax error of the config itself, and a missing file', async () => {
    const file = write('syntax.cfg', 'name = "a"\nfirewall = [ "allow in tcp 22"\n');
    const r = await check(file, join(dir, 'missing.cfg'));
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^${file}:2:12: error: unterminated list`));
    expect(r.stdout).toContain(`cannot read ${join(dir, 'missing.cfg')}`);
    expect((await check()).exitCode).toBe(2);
  });

  it('--json: a versioned object, one entry per file, each problem with its severity and position', async () => {
    const file = write('json.cfg', 'firewal = [ "allow in tcp 22" ]\nfirewall = [ "allow in tcp 22", "allow in tcp 22", "allow in tcp 0" ]\n');
    const r = await execa(HOOK, ['check', '--json', file], { reject: false, stdin: 'ignore', env: { VIF_FIREWALL_CONF: write('empty.conf', '') } });
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      version: 1,
      ok: false,
      files: [
        {
          file,
          ok: false,
          problems: [
            { severity: 'warning', file, line: 1, col: 1, message: 'unknown key "firewal", ignored by xl and vif-firewall: did you mean "firewall"?' },
            { severity: 'error', file, line: 2, col: 66, message: 'port 0 out of range 1-65535' },
          ],
        },
      ],
    });
  });
});

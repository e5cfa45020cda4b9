import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { hotplugCommands } from '../../src/cli/hotplug.js';
import { operatorCommands } from '../../src/cli/operator.js';

/** The manual pages say what the program does: every command, option and setting is there, under this version. */

const page8 = readFileSync('docs/man/vif-firewall.8', 'utf8');
const page5 = readFileSync('docs/man/vif-firewall.conf.5', 'utf8');
const version: string = JSON.parse(readFileSync('package.json', 'utf8')).version;
const section = (page: string, name: string) => page.slice(page.indexOf(`.SH ${name}`), page.indexOf('\n.SH ', page.indexOf(`.SH ${name}`) + 1));

describe('the manual pages', () => {
  it('carry the package version', () => {
    for (const page of [page8, page5]) expect(page).toMatch(new RegExp(`^\\.TH \\S+ [58] \\d{4}-\\d\\d-\\d\\d "vif-firewall ${version.replaceAll('.', '\\.')}"`, 'm'));
  });

  it('vif-firewall(8) describes every command and every option', () => {
    const commands = section(page8, 'COMMANDS');
    for (const c of [...hotplugCommands, ...operatorCommands, { name: 'help' }, { name: 'version' }]) expect(commands).toMatch(new RegExp(`^\\.B[R]? (.*\\b)?${c.name}\\b`, 'm'));
    const options = new Set([...hotplugCommands, ...operatorCommands].flatMap((c) => [...(c.booleans ?? []), ...(c.strings ?? [])]));
    for (const o of options) expect(page8, `--${o}`).toContain(`\\-\\-${o.replaceAll('-', '\\-')}`);
  });

  it('vif-firewall.conf(5) describes every setting of the example file', () => {
    const example = readFileSync('packaging/vif-firewall.conf', 'utf8');
    const keys = [...example.matchAll(/^#([a-z_]+) = /gm)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(5);
    const settings = section(page5, 'SETTINGS');
    for (const key of keys) expect(settings, key).toContain(`.TP\n.B ${key}\n`);
  });

  it('render without a warning', async (ctx) => {
    if ((await execa('man', ['--version'], { reject: false }).catch(() => undefined))?.exitCode !== 0) {
      console.warn('\n*** SKIPPED: man is not installed (bash scripts/setup.sh installs man-db) ***\n');
      ctx.skip();
    }
    for (const page of ['docs/man/vif-firewall.8', 'docs/man/vif-firewall.conf.5']) {
      const r = await execa('man', ['--warnings', '-l', page], { env: { MANWIDTH: '80' }, reject: false });
      expect(r.stderr, page).toBe('');
      expect(r.exitCode).toBe(0);
    }
  });
});

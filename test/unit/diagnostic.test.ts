import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HookError } from '../../src/errors.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { parseSettings } from '../../src/read/settings.js';
import { renderDiagnostic, renderDiagnostics } from '../../src/report/diagnostic.js';

const DIR = 'test/fixtures/errors';
const read = (file: string) => readFileSync(file, 'utf8');

function rendered(guest: string, settingsFile: string): string {
  try {
    guestRulesOf(read(guest), guest, 0, parseSettings(read(settingsFile), settingsFile));
  } catch (e) {
    return `${renderDiagnostics(e as HookError, (f) => read(f)).join('\n')}\n`;
  }
  throw new Error('expected errors');
}

describe('diagnostics', () => {
  it('reports every error of a guest and of the shared rules it uses, each with its line and a caret (golden)', async () => {
    await expect(rendered(`${DIR}/many.cfg`, `${DIR}/vif-firewall.conf`)).toMatchFileSnapshot('../golden/errors/many.txt');
  });

  it('keeps tabs so the caret lines up, shows control characters as one stand-in each, and goes without a line it cannot read', () => {
    const at = { file: 'x.cfg', line: 2, col: 5 };
    expect(renderDiagnostic('error', 'bad', at, () => 'first\n\t\x1b[1mx\n')).toEqual(['x.cfg:2:5: error: bad', '  \t\ufffd[1mx', '  \t   ^']);
    expect(renderDiagnostic('error', 'bad', at, () => undefined)).toEqual(['x.cfg:2:5: error: bad']);
    expect(renderDiagnostic('error', 'no place', undefined, () => '')).toEqual(['error: no place']);
  });

  it('keeps a message on one line, and shows a long line around the column', () => {
    expect(renderDiagnostic('error', 'bad "a\nb"', undefined, () => '')).toEqual(['error: bad "a\\nb"']);
    const line = `${'x'.repeat(500)}!${'y'.repeat(500)}`;
    const [, shown, caret] = renderDiagnostic('error', 'bang', { file: 'x.cfg', line: 1, col: 501 }, () => line);
    expect(shown).toBe(`  …${'x'.repeat(100)}!${'y'.repeat(99)}…`);
    expect(caret).toBe(`  ${' '.repeat(101)}^`);
  });
});

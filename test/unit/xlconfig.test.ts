import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatWhere, unwrap, type Result } from '../../src/errors.js';
import { getNumber, getString, getStringList } from '../../src/xlconfig/access.js';
import type { XlConfig, XlValue } from '../../src/xlconfig/model.js';
import { parseXlConfig } from '../../src/xlconfig/parse.js';

const FILE = '/etc/xen/g.cfg';
const parse = (text: string): XlConfig => unwrap(parseXlConfig(text, FILE));
const valueOf = (text: string, key: string): XlValue | undefined => parse(text).settings.get(key)?.value;

/** `file:line:col: message` of a failed Result, so each test pins both the place and the words. */
function errorOf(r: Result<unknown>): string {
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r.error.describe();
}
const parseError = (text: string): string => errorOf(parseXlConfig(text, FILE));

/** A value without positions, to compare structure in one expect. */
function plain(v: XlValue | undefined): unknown {
  if (!v) return v;
  if (v.kind === 'list') return v.items.map(plain);
  return v.kind === 'number' ? { number: v.value, text: v.text } : v.value;
}

const at = (line: number, col: number) => ({ file: FILE, line, col });

function fixture(name: string): XlConfig {
  const file = fileURLToPath(new URL(`../fixtures/xl/${name}`, import.meta.url));
  return unwrap(parseXlConfig(readFileSync(file, 'utf8'), file));
}

describe('stock Debian examples', () => {
  it('parses xlexample.hvm', () => {
    const cfg = fixture('xlexample.hvm');
    expect([...cfg.settings.keys()]).toEqual(['type', 'name', 'memory', 'vcpus', 'vif', 'disk', 'sdl']);
    expect(unwrap(getString(cfg, 'type'))?.value).toBe('hvm');
    expect(unwrap(getString(cfg, 'name'))?.value).toBe('example.hvm');
    expect(unwrap(getNumber(cfg, 'memory'))).toEqual({ value: 128, at: expect.objectContaining({ line: 25, col: 10 }) });
    const vif = unwrap(getStringList(cfg, 'vif'));
    expect(vif).toEqual([{ value: '', at: expect.objectContaining({ line: 38, col: 9 }) }]);
    expect(vif?.[0]?.at.file).toMatch(/test\/fixtures\/xl\/xlexample\.hvm$/);
    expect(unwrap(getStringList(cfg, 'disk'))?.map((d) => d.value)).toEqual(['/dev/vg/guest-volume,raw,xvda,rw']);
    expect(cfg.settings.get('sdl')?.at).toMatchObject({ line: 46, col: 1 });
  });

  it('parses xlexample.pvlinux', () => {
    const cfg = fixture('xlexample.pvlinux');
    expect(unwrap(getString(cfg, 'name'))?.value).toBe('example.pvlinux');
    expect(unwrap(getString(cfg, 'kernel'))?.value).toBe('/boot/vmlinuz');
    expect(unwrap(getString(cfg, 'extra'))?.value).toBe('root=/dev/xvda1');
    expect(unwrap(getNumber(cfg, 'vcpus'))?.value).toBe(2);
    expect(unwrap(getStringList(cfg, 'vif'))?.map((v) => v.value)).toEqual(['']);
    expect(cfg.settings.has('type')).toBe(false);
  });

  it('parses xlexample.pvhlinux', () => {
    const cfg = fixture('xlexample.pvhlinux');
    expect(unwrap(getString(cfg, 'type'))?.value).toBe('pvh');
    expect(unwrap(getNumber(cfg, 'memory'))?.value).toBe(512);
    expect(unwrap(getStringList(cfg, 'disk'))?.map((d) => d.value)).toEqual(['/dev/zvol/tank/guest-volume,raw,xvda,rw']);
  });

  it('parses xl.conf, whose settings are all commented out', () => {
    expect(fixture('xl.conf').settings.size).toBe(0);
  });
});

describe('george.cfg', () => {
  const cfg = fixture('george.cfg');

  it('gives each firewall line with its exact position', () => {
    const lines = unwrap(getStringList(cfg, 'firewall'));
    expect(lines?.map((l) => [l.value, l.at.line, l.at.col])).toEqual([
      ['allow in tcp 22', 5, 3],
      ['allow in tcp 80,443 from 198.51.100.0/24, 2001:db8::/32', 6, 3],
      ['allow in udp 60000-61000', 7, 3],
      ['allow in icmp echo-request', 8, 3],
      ['allow in ssh from 203.0.113.7', 9, 3],
      ['drop out tcp 25', 10, 3],
      ['log in', 11, 3],
    ]);
    expect(cfg.settings.get('firewall')?.at).toMatchObject({ line: 4, col: 1 });
    expect(cfg.settings.get('firewall')?.value.at).toMatchObject({ line: 4, col: 12 });
  });

  it('gives name and vif', () => {
    expect(unwrap(getString(cfg, 'name'))).toEqual({ value: 'george', at: expect.objectContaining({ line: 2, col: 8 }) });
    expect(unwrap(getStringList(cfg, 'vif'))?.map((v) => v.value)).toEqual([
      'mac=00:16:3e:00:00:02,bridge=xenbr0,ip=192.0.2.10 2001:db8::10,script=vif-firewall',
    ]);
  });
});

describe('values', () => {
  it('reads strings in either quote, keeping the other quote and # as text', () => {
    const cfg = parse(`a = "it's # not a comment"\nb = 'say "hi"' # a comment\nc = ""\n`);
    expect(plain(cfg.settings.get('a')?.value)).toBe("it's # not a comment");
    expect(plain(cfg.settings.get('b')?.value)).toBe('say "hi"');
    expect(plain(cfg.settings.get('c')?.value)).toBe('');
  });

  it('decodes the escapes libxlu decodes', () => {
    expect(plain(valueOf(String.raw`a = "\a\b\f\n\r\t\v\\\'\"."`, 'a'))).toBe('\x07\b\f\n\r\t\v\\\'".');
    expect(plain(valueOf(String.raw`a = 'don\'t'`, 'a'))).toBe("don't");
  });

  it('places a value at its first character, a setting at its key', () => {
    const cfg = parse('\n  key\t=  "v"\nlist = [ 1 ]\n');
    expect(cfg.settings.get('key')?.at).toEqual(at(2, 3));
    expect(cfg.settings.get('key')?.value.at).toEqual(at(2, 10));
    expect(cfg.settings.get('list')?.value.at).toEqual(at(3, 8));
  });

  it('reads numbers as xl does (strtol base 0) and keeps their text', () => {
    const cfg = parse('a = 42\nb = 0x1f\nc = 010\nd = 0\ne = 9223372036854775807\n');
    expect(plain(cfg.settings.get('a')?.value)).toEqual({ number: 42, text: '42' });
    expect(plain(cfg.settings.get('b')?.value)).toEqual({ number: 31, text: '0x1f' });
    expect(plain(cfg.settings.get('c')?.value)).toEqual({ number: 8, text: '010' });
    expect(plain(cfg.settings.get('d')?.value)).toEqual({ number: 0, text: '0' });
    expect(cfg.settings.get('e')?.value).toMatchObject({ kind: 'number', text: '9223372036854775807' });
  });

  it('keeps as text the number tokens xl cannot read as a number', () => {
    // libxlu lexes [0-9][0-9a-fx]* as one token and only its numeric lookup rejects these.
    const cfg = parse('a = 08\nb = 1abc\nc = 0x\nd = 9223372036854775808\n');
    for (const [key, text] of [['a', '08'], ['b', '1abc'], ['c', '0x'], ['d', '9223372036854775808']] as const)
      expect(cfg.settings.get(key)?.value).toEqual({ kind: 'string', value: text, at: expect.anything() });
  });

  it('reads lists: empty, trailing comma, newlines and comments anywhere inside', () => {
    expect(plain(valueOf('a = []', 'a'))).toEqual([]);
    expect(plain(valueOf('a = [\n\n]', 'a'))).toEqual([]);
    expect(plain(valueOf('a = [ "x", ]', 'a'))).toEqual(['x']);
    const text = 'a = [ # first\n  "x" # after x\n  ,\n\n  2,\n  # alone\n  "y",\n]\nb = 1\n';
    expect(plain(valueOf(text, 'a'))).toEqual(['x', { number: 2, text: '2' }, 'y']);
    expect(plain(valueOf(text, 'b'))).toEqual({ number: 1, text: '1' });
  });

  it('reads nested lists with positions', () => {
    const v = valueOf('a = [ [ 1, "x" ], [], [[ "deep" ]] ]', 'a');
    expect(plain(v)).toEqual([[{ number: 1, text: '1' }, 'x'], [], [['deep']]]);
    if (v?.kind !== 'list') throw new Error('not a list');
    expect(v.items.map((i) => i.at.col)).toEqual([7, 19, 23]);
    const inner = v.items[0];
    expect(inner?.kind === 'list' && inner.items.map((i) => i.at.col)).toEqual([9, 12]);
  });
});

describe('statements', () => {
  it('ends settings at newline or ";", with blank lines and empty statements', () => {
    const cfg = parse(';;\n\n  a = 1; b = "x";\n\t\nc = [2];\n');
    expect([...cfg.settings.keys()]).toEqual(['a', 'b', 'c']);
    expect(cfg.settings.get('b')?.at).toEqual(at(3, 10));
  });

  it('accepts a missing final newline, also after a comment', () => {
    expect(plain(valueOf('a = 1', 'a'))).toEqual({ number: 1, text: '1' });
    expect(plain(valueOf('a = [ "x" ]', 'a'))).toEqual(['x']);
    expect(plain(valueOf('a = "x" # done', 'a'))).toBe('x');
    expect(parse('# only a comment').settings.size).toBe(0);
    expect(parse('').settings.size).toBe(0);
  });

  it('accepts CRLF line endings, counting lines as usual', () => {
    const cfg = parse('# dos\r\nname = "x"\r\nlist = [\r\n  "a",\r\n  "b"\r\n]\r\n');
    expect(plain(cfg.settings.get('name')?.value)).toBe('x');
    expect(cfg.settings.get('name')?.value.at).toEqual(at(2, 8));
    const list = unwrap(getStringList(cfg, 'list'));
    expect(list?.map((i) => [i.value, i.at.line, i.at.col])).toEqual([
      ['a', 4, 3],
      ['b', 5, 3],
    ]);
  });

  it('takes keys as libxlu does: lower case, digits, "_" and "."', () => {
    const cfg = parse('vif.default.script = "vif-firewall"\nfirewall_vif1 = []\nx2 = 1\n');
    expect([...cfg.settings.keys()]).toEqual(['vif.default.script', 'firewall_vif1', 'x2']);
  });

  it('keeps the last of a key set twice', () => {
    const cfg = parse('a = "first"\nb = 1\na = [ "second" ]\n');
    expect(plain(cfg.settings.get('a')?.value)).toEqual(['second']);
    expect(cfg.settings.get('a')?.at).toEqual(at(3, 1));
  });
});

describe('+=', () => {
  it('appends to a list, keeping each item where it was written', () => {
    const cfg = parse('firewall = [ "a" ]\nfirewall += [ "b", "c" ]\n');
    const items = unwrap(getStringList(cfg, 'firewall'));
    expect(items?.map((i) => [i.value, i.at.line, i.at.col])).toEqual([
      ['a', 1, 14],
      ['b', 2, 15],
      ['c', 2, 20],
    ]);
    expect(cfg.settings.get('firewall')?.at).toEqual(at(2, 1));
    expect(cfg.settings.get('firewall')?.value.at).toEqual(at(2, 13));
  });

  it('concatenates single values as text, numbers included (libxlu keeps numbers as text)', () => {
    expect(plain(valueOf('extra = "console=hvc0"\nextra += " quiet"\n', 'extra'))).toBe('console=hvc0 quiet');
    expect(valueOf('a = 1\na += 2\n', 'a')).toEqual({ kind: 'string', value: '12', at: at(2, 6) });
  });

  it('is a plain setting when the key was not set before', () => {
    expect(plain(valueOf('a += [ "x" ]', 'a'))).toEqual(['x']);
    expect(plain(valueOf('a += "x"', 'a'))).toBe('x');
  });

  it('appends to the latest setting of the key', () => {
    expect(plain(valueOf('a = [1]\na = [2]\na += [3]\n', 'a'))).toEqual([
      { number: 2, text: '2' },
      { number: 3, text: '3' },
    ]);
  });

  it('refuses to mix a list and a single value', () => {
    expect(parseError('a = "x"\n\na += [ "y" ]\n')).toBe(
      `${FILE}:3:6: cannot append a list to "a", which holds a single value (set at line 1)`,
    );
    expect(parseError('a = [ "x" ]\na += 3\n')).toBe(
      `${FILE}:2:6: cannot append a single value to "a", which holds a list (set at line 1)`,
    );
  });
});

describe('errors', () => {
  it.each([
    // strings
    ['a = "abc\nb = 1\n', '1:5: unterminated string (missing closing ")'],
    ["a = 'abc", "1:5: unterminated string (missing closing ')"],
    ['a = "abc\\\nd"\n', '1:5: unterminated string (missing closing ")'],
    ['a = [ "ok",\n  "abc ]\n', '2:3: unterminated string (missing closing ")'],
    // escapes, at the backslash
    ['a = "x\\qy"', `1:7: invalid escape '\\q' in string (xl knows \\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\")`],
    ['a = "\\x41"', "1:6: '\\x' escape in string: xl rejects hex escapes; write the character itself"],
    [
      'a = "AB\\101"',
      "1:8: '\\1' escape in string: xl drops octal escapes and the digits after them; write the character itself",
    ],
    // the '=' and the value
    ['vif "x"\n', `1:5: expected '=' after key "vif", found a string`],
    ['vif\n', `1:4: expected '=' after key "vif", found end of line`],
    ['vif', `1:4: expected '=' after key "vif", found end of file`],
    ['vif : 1', `1:5: unexpected character ':'`],
    ['a + = 1', `1:3: unexpected character '+'`],
    ['a =\n"x"\n', '1:4: expected a value for "a", found end of line'],
    ['a = ', '1:5: expected a value for "a", found end of file'],
    ['a = ;', `1:5: expected a value for "a", found ';'`],
    ['a = ]', `1:5: expected a value for "a", found ']'`],
    ['builder = hvm\n', '1:11: expected a value for "builder", found hvm (text must be quoted: "hvm")'],
    ['memory = -1\n', `1:10: unexpected character '-'`],
    ['cpus = 0-3\n', `1:9: unexpected character '-'`],
    ['memory = 512M\n', `1:13: expected end of line or ';' after the value of "memory", found M`],
    ['a = "x" "y"\n', `1:9: expected end of line or ';' after the value of "a", found a string`],
    ['a = "x" = 1\n', `1:9: expected end of line or ';' after the value of "a", found '='`],
    ['a = [] []\n', `1:8: expected end of line or ';' after the value of "a", found '['`],
    // lists
    ['a = [ "x" "y" ]', `1:11: expected ',' or ']' in list, found a string`],
    ['a = [ "x"; ]', `1:10: expected ',' or ']' in list, found ';'`],
    ['a = [ , ]', `1:7: expected a list item or ']', found ','`],
    ['a = [ 1,, 2 ]', `1:9: expected a list item or ']', found ','`],
    ['a = [ 1, hvm ]', `1:10: expected a list item or ']', found hvm (text must be quoted: "hvm")`],
    ['a = [ ; ]', `1:7: expected a list item or ']', found ';'`],
    ['a = [ "x",\n  "y"\n', `1:5: unterminated list: no ']' closes this '['`],
    ['a = [ [ 1 ]', `1:5: unterminated list: no ']' closes this '['`],
    ['a = [ 1, [', `1:10: unterminated list: no ']' closes this '['`],
    // statement starts
    ['= 1', `1:1: expected a setting name, found '='`],
    ['"a" = 1', '1:1: expected a setting name, found a string'],
    ['a = 1\n  42 = 1', '2:3: expected a setting name, found 42'],
    ['a = 1\n]', `2:1: expected a setting name, found ']'`],
    // keys xl would not accept
    ['Name = "x"', `1:1: invalid key "Name": xl keys are lower-case letters, digits, '_' and '.', starting with a letter`],
    ['_x = 1', `1:1: invalid key "_x": xl keys are lower-case letters, digits, '_' and '.', starting with a letter`],
    ['\nfooBar = 1', `2:1: invalid key "fooBar": xl keys are lower-case letters, digits, '_' and '.', starting with a letter`],
    ['.a = 1', `1:1: unexpected character '.'`],
    // stray characters
    ['a = 1 @', `1:7: unexpected character '@'`],
    ['a = 1\n@', `2:1: unexpected character '@'`],
    ['kernel = "/boot/vmlinuz" + "x"', `1:26: unexpected character '+'`],
    ['import os', `1:8: expected '=' after key "import", found os`],
    ['a = 1\rb = 2', '1:6: unexpected character U+000D'],
    ['a = é', `1:5: unexpected character 'é'`],
    ['\uFEFFa = 1', '1:1: unexpected character U+FEFF'],
    // after CRLF lines the column still counts from the line start
    ['a = 1\r\nb = 2\r\nc = @\r\n', `3:5: unexpected character '@'`],
  ])('%j → %s', (text, expected) => {
    expect(parseError(text)).toBe(`${FILE}:${expected}`);
  });

  it('reports the first fault in file order, syntax or lexical', () => {
    expect(parseError('a = = 1\nb = "unterminated\n')).toBe(`${FILE}:1:5: expected a value for "a", found '='`);
    expect(parseError('a = "unterminated\nb = = 1\n')).toBe(`${FILE}:1:5: unterminated string (missing closing ")`);
  });

  it('names the file it was given', () => {
    const r = parseXlConfig('a = @', 'relative/x.cfg');
    expect(r.ok || formatWhere(r.error.where!)).toBe('relative/x.cfg:1:5');
  });
});

describe('accessors', () => {
  const cfg = parse(
    [
      'name = "george"',
      'count = 3',
      'lines = [ "a", 22 ]',
      'one = "allow in tcp 22"',
      'nested = [ "a", [ "b" ] ]',
      'word = "12"',
    ].join('\n'),
  );

  it('treat an absent key as undefined', () => {
    expect(unwrap(getString(cfg, 'nope'))).toBeUndefined();
    expect(unwrap(getStringList(cfg, 'nope'))).toBeUndefined();
    expect(unwrap(getNumber(cfg, 'nope'))).toBeUndefined();
  });

  it('getString reads a string, and a number as its text as xl does', () => {
    expect(unwrap(getString(cfg, 'name'))).toEqual({ value: 'george', at: at(1, 8) });
    expect(unwrap(getString(cfg, 'count'))).toEqual({ value: '3', at: at(2, 9) });
    expect(errorOf(getString(cfg, 'lines'))).toBe(`${FILE}:3:9: "lines" must be a string, e.g. lines = "…"`);
  });

  it('getStringList reads a list of strings (numbers as text), never a single string', () => {
    expect(unwrap(getStringList(cfg, 'lines'))).toEqual([
      { value: 'a', at: at(3, 11) },
      { value: '22', at: at(3, 16) },
    ]);
    expect(errorOf(getStringList(cfg, 'one'))).toBe(`${FILE}:4:7: "one" must be a list of strings, e.g. [ "…" ]`);
    expect(errorOf(getStringList(cfg, 'count'))).toBe(`${FILE}:2:9: "count" must be a list of strings, e.g. [ "…" ]`);
    expect(errorOf(getStringList(cfg, 'nested'))).toBe(
      `${FILE}:5:17: "nested" must be a list of strings, e.g. [ "…" ], not a list of lists`,
    );
  });

  it('getNumber reads a number only', () => {
    expect(unwrap(getNumber(cfg, 'count'))).toEqual({ value: 3, at: at(2, 9) });
    expect(errorOf(getNumber(cfg, 'word'))).toBe(`${FILE}:6:8: "word" must be a number, e.g. word = 1`);
    expect(errorOf(getNumber(cfg, 'lines'))).toBe(`${FILE}:3:9: "lines" must be a number, e.g. lines = 1`);
  });
});

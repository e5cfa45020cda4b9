import { HookError, ok, type Result, type Where } from '../errors.js';
import type { XlConfig, XlSetting, XlValue } from './model.js';

/*
 * The xl domain config language as libxlu reads it (tools/libs/util/libxlu_cfg_l.l,
 * libxlu_cfg_y.y, libxlu_cfg.c), so we read the same values xl does. The few places
 * we differ are marked "Unlike libxlu". libxlu reports every error; we stop at the first.
 */

type Punct = '=' | '+=' | ',' | '[' | ']' | ';';

type Token =
  /** Any run of letters, digits, '_' and '.', so a bad key or an unquoted value gets a precise message. */
  | { readonly kind: 'word'; readonly text: string; readonly at: Where }
  | { readonly kind: 'string'; readonly value: string; readonly at: Where }
  | { readonly kind: 'number'; readonly text: string; readonly at: Where }
  | { readonly kind: 'punct'; readonly text: Punct; readonly at: Where }
  | { readonly kind: 'newline'; readonly at: Where }
  | { readonly kind: 'eof'; readonly at: Where };

/** Parses the text of an xl config file; `file` only labels positions. As in libxlu, the last setting of a key wins. */
export function parseXlConfig(text: string, file: string): Result<XlConfig> {
  try {
    return ok({ file, settings: new Parser(new Lexer(text, file)).file() });
  } catch (e) {
    // Lexer and Parser throw HookError only; anything else is a bug and must surface.
    if (e instanceof HookError) return { ok: false, error: e };
    throw e;
  }
}

// libxlu's IDENT is [a-z][._0-9a-z]*: keys are lower case (dots as in xl.conf's vif.default.script).
const KEY = /^[a-z][._0-9a-z]*$/;
const WORD = /[A-Za-z_][A-Za-z0-9_.]*/y;
// libxlu's NUMBER is [0-9][0-9a-fx]*, so "0x1f" and "1abc" are one token each.
const NUMBER = /[0-9][0-9a-fx]*/y;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
const LONG_MAX = 2n ** 63n - 1n;
const DOUBLE_QUOTED_STOP = /["\\\n]/g;
const SINGLE_QUOTED_STOP = /['\\\n]/g;
/** Deepest list nesting read. xl configs nest two levels at most (a list of lists); far more is a mistake or an attack. */
export const MAX_NESTING = 64;

class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  next(): Token {
    this.skipBlanksAndComment();
    const { text, i } = this;
    const at = this.at(i);
    if (i >= text.length) return { kind: 'eof', at };
    const c = text[i]!;
    // Unlike libxlu, which calls '\r' a lexical error: CRLF files come from editors on other systems.
    if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      this.i += c === '\r' ? 2 : 1;
      this.line++;
      this.lineStart = this.i;
      return { kind: 'newline', at };
    }
    if (c === '"' || c === "'") return this.string(c);
    if (c >= '0' && c <= '9') return { kind: 'number', text: this.sticky(NUMBER), at };
    if (/[A-Za-z_]/.test(c)) return { kind: 'word', text: this.sticky(WORD), at };
    if (c === '+' && text[i + 1] === '=') {
      this.i += 2;
      return { kind: 'punct', text: '+=', at };
    }
    if ('=,[];'.includes(c)) {
      this.i++;
      return { kind: 'punct', text: c as Punct, at };
    }
    throw new HookError(`unexpected character ${describeChar(text.codePointAt(i)!)}`, at);
  }

  /** `#` runs to the end of the line; the newline itself is still a token. Unlike libxlu, a comment may end the file. */
  private skipBlanksAndComment(): void {
    const { text } = this;
    while (text[this.i] === ' ' || text[this.i] === '\t') this.i++;
    if (text[this.i] !== '#') return;
    while (this.i < text.length && text[this.i] !== '\n' && !(text[this.i] === '\r' && text[this.i + 1] === '\n')) this.i++;
  }

  private sticky(re: RegExp): string {
    re.lastIndex = this.i;
    const m = re.exec(this.text)![0];
    this.i += m.length;
    return m;
  }

  /** A string never spans lines; a backslash takes the next character whatever it is (libxlu: '([^'\\\n]|\\.)*'). */
  private string(quote: string): Token {
    const { text } = this;
    const start = this.i;
    // From one quote, backslash or newline to the next (a string may be a megabyte long).
    const stop = quote === '"' ? DOUBLE_QUOTED_STOP : SINGLE_QUOTED_STOP;
    let j = start + 1;
    for (;;) {
      stop.lastIndex = j;
      const m = stop.exec(text);
      if (!m || m[0] !== '\\') {
        j = m ? m.index : text.length;
        break;
      }
      j = m.index + (text[m.index + 1] === '\n' ? 1 : 2);
    }
    if (text[j] !== quote) throw new HookError(`unterminated string (missing closing ${quote})`, this.at(start));
    this.i = j + 1;
    return { kind: 'string', value: this.dequote(start + 1, j), at: this.at(start) };
  }

  private dequote(from: number, to: number): string {
    const { text } = this;
    let out = '';
    for (let j = from; j < to; ) {
      const escape = text.indexOf('\\', j);
      if (escape < 0 || escape >= to) return out + text.slice(j, to);
      out += text.slice(j, escape);
      const e = text[escape + 1]!;
      const simple = SIMPLE_ESCAPES[e];
      if (simple === undefined) throw new HookError(escapeProblem(e), this.at(escape));
      out += simple;
      j = escape + 2;
    }
    return out;
  }

  private at(index: number): Where {
    return { file: this.file, line: this.line, col: index - this.lineStart + 1 };
  }
}

/**
 * libxlu's numeric escapes are broken (xlu__cfgl_dequote): \x is always rejected, and
 * \ooo is read in base 10 and never stored, so the character and up to 3 following
 * digits silently vanish. Unlike libxlu we reject octal too: a firewall rule must not
 * silently lose characters, and xl would not see the text we would decode.
 */
function escapeProblem(e: string): string {
  if (e === 'x') return `'\\x' escape in string: xl rejects hex escapes; write the character itself`;
  if (e >= '0' && e <= '7')
    return `'\\${e}' escape in string: xl drops octal escapes and the digits after them; write the character itself`;
  return `invalid escape '\\${e}' in string (xl knows \\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\")`;
}

function describeChar(code: number): string {
  const c = String.fromCodePoint(code);
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c) ? `'${c}'` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

function startsValue(t: Token): boolean {
  return t.kind === 'string' || t.kind === 'number' || (t.kind === 'punct' && t.text === '[');
}

/** What stood where something else was expected; an unquoted word most likely wanted quotes. */
function found(t: Token): string {
  return t.kind === 'word' ? `${t.text} (text must be quoted: "${t.text}")` : describe(t);
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'word':
      return t.text;
    case 'string':
      return 'a string';
    case 'number':
      return t.text;
    case 'punct':
      return `'${t.text}'`;
    case 'newline':
      return 'end of line';
    case 'eof':
      return 'end of file';
  }
}

class Parser {
  private tok: Token;

  constructor(private readonly lexer: Lexer) {
    this.tok = lexer.next();
  }

  /** file: { NEWLINE | ';' | key ('=' | '+=') value (NEWLINE | ';' | EOF) } */
  file(): Map<string, XlSetting> {
    const settings = new Map<string, XlSetting>();
    for (;;) {
      const t = this.tok;
      if (t.kind === 'eof') return settings;
      if (t.kind === 'newline' || (t.kind === 'punct' && t.text === ';')) this.advance();
      else this.setting(settings);
    }
  }

  private setting(settings: Map<string, XlSetting>): void {
    const keyTok = this.tok;
    if (keyTok.kind !== 'word') throw new HookError(`expected a setting name, found ${describe(keyTok)}`, keyTok.at);
    const key = keyTok.text;
    if (!KEY.test(key))
      throw new HookError(
        `invalid key "${key}": xl keys are lower-case letters, digits, '_' and '.', starting with a letter`,
        keyTok.at,
      );
    const op = this.advance();
    if (op.kind !== 'punct' || (op.text !== '=' && op.text !== '+='))
      throw new HookError(`expected '=' after key "${key}", found ${describe(op)}`, op.at);
    this.advance();
    const given = this.value(key);
    const end = this.tok;
    if (end.kind !== 'eof' && end.kind !== 'newline' && !(end.kind === 'punct' && end.text === ';'))
      throw new HookError(`expected end of line or ';' after the value of "${key}", found ${describe(end)}`, end.at);
    const previous = settings.get(key);
    // Unlike libxlu, a number set by `+=` with nothing before stays readable as a number.
    const value = op.text === '+=' && previous ? append(key, previous, given) : given;
    settings.set(key, { key, value, at: keyTok.at });
  }

  private value(key: string): XlValue {
    if (!startsValue(this.tok)) throw new HookError(`expected a value for "${key}", found ${found(this.tok)}`, this.tok.at);
    return this.valueHere();
  }

  private valueHere(depth = 0): XlValue {
    const t = this.tok;
    if (t.kind === 'string' || t.kind === 'number') {
      this.advance();
      return atom(t);
    }
    return this.list(t.at, depth + 1);
  }

  /** '[' nl* [ value nl* { ',' nl* value nl* } [ ',' nl* ] ] ']' — libxlu's valuelist, so a trailing comma is fine. */
  private list(open: Where, depth: number): XlValue {
    // The recursion is bounded by this limit, never by the input.
    if (depth > MAX_NESTING) throw new HookError(`lists nested deeper than ${MAX_NESTING} levels`, open);
    const items: XlValue[] = [];
    this.advance();
    this.skipNewlines();
    while (!this.isPunct(']')) {
      this.unterminatedListAtEof(open);
      if (!startsValue(this.tok)) throw new HookError(`expected a list item or ']', found ${found(this.tok)}`, this.tok.at);
      items.push(this.valueHere(depth));
      this.skipNewlines();
      if (this.isPunct(']')) break;
      this.unterminatedListAtEof(open);
      if (!this.isPunct(',')) throw new HookError(`expected ',' or ']' in list, found ${found(this.tok)}`, this.tok.at);
      this.advance();
      this.skipNewlines();
    }
    this.advance();
    return { kind: 'list', items, at: open };
  }

  /** At end of file the useful place to point at is the '[' left open, not the end. */
  private unterminatedListAtEof(open: Where): void {
    if (this.tok.kind === 'eof') throw new HookError(`unterminated list: no ']' closes this '['`, open);
  }

  private skipNewlines(): void {
    while (this.tok.kind === 'newline') this.advance();
  }

  private isPunct(p: Punct): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private advance(): Token {
    this.tok = this.lexer.next();
    return this.tok;
  }
}

function atom(t: Extract<Token, { kind: 'string' | 'number' }>): XlValue {
  if (t.kind === 'string') return { kind: 'string', value: t.value, at: t.at };
  const n = numberValue(t.text);
  // libxlu keeps every number as text and only xl's numeric lookup (strtol) rejects "08" or "1abc"; so do we.
  return n === undefined ? { kind: 'string', value: t.text, at: t.at } : { kind: 'number', value: n, text: t.text, at: t.at };
}

/** The value xl's xlu_cfg_get_long would read: strtol base 0, so 0x.. is hex and a leading 0 means octal. */
function numberValue(text: string): number | undefined {
  const m = /^(?:0x([0-9a-f]+)|0([0-7]*)|([1-9][0-9]*))$/.exec(text);
  if (!m) return undefined;
  const [, hex, octal, decimal] = m;
  const n = hex !== undefined ? BigInt(`0x${hex}`) : octal !== undefined ? BigInt(`0o${octal || '0'}`) : BigInt(decimal!);
  return n <= LONG_MAX ? Number(n) : undefined;
}

/**
 * `key += value` as libxlu's xlu__cfg_concat_vals: lists concatenate, single values
 * concatenate as text (numbers are text to libxlu), mixing the two is an error.
 * The result sits where the `+=` value is, as libxlu records it.
 */
function append(key: string, previous: XlSetting, added: XlValue): XlValue {
  const before = previous.value;
  if (before.kind === 'list' && added.kind === 'list') return { kind: 'list', items: [...before.items, ...added.items], at: added.at };
  if (before.kind !== 'list' && added.kind !== 'list') return { kind: 'string', value: text(before) + text(added), at: added.at };
  const what = (v: XlValue) => (v.kind === 'list' ? 'a list' : 'a single value');
  throw new HookError(
    `cannot append ${what(added)} to "${key}", which holds ${what(before)} (set at line ${previous.at.line})`,
    added.at,
  );
}

function text(v: Extract<XlValue, { kind: 'string' | 'number' }>): string {
  return v.kind === 'string' ? v.value : v.text;
}

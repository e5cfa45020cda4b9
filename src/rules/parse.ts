import { HookError, type Result, type Where, fail, failAll, ok } from '../errors.js';
import { parseCidr } from './address.js';
import { FAMILIES, matchFamilies } from './cover.js';
import { type IcmpProto, icmpType, icmpTypeNames } from './icmp.js';
import {
  type Action,
  type Cidr,
  DEFAULT_POLICY,
  type Direction,
  type Family,
  type Match,
  type Origin,
  type PolicyAction,
  type Rule,
  type RuleSet,
} from './model.js';
import { parsePortRange } from './port.js';
import { SERVICES } from './services.js';

/** One string of the xl `firewall` list; `at` is the position of its opening quote. */
export interface RuleLine {
  readonly value: string;
  readonly at: Where;
  /** Set when the line came from a group or firewall_default; the rule made of it carries it. */
  readonly origin?: Origin;
}

const STATEMENTS = ['allow', 'drop', 'reject', 'policy', 'log'] as const;
const DIRECTIONS = ['in', 'out'] as const satisfies readonly Direction[];
const POLICY_ACTIONS = ['drop', 'reject', 'accept'] as const satisfies readonly PolicyAction[];
const CLAUSES = ['from', 'to'] as const;
type Clause = (typeof CLAUSES)[number];

const PROTOS: ReadonlyMap<string, Match['proto']> = new Map<string, Match['proto']>([
  ['tcp', 'tcp'],
  ['udp', 'udp'],
  ['icmp', 'icmp'],
  ['icmpv6', 'icmpv6'],
  ['ipv6-icmp', 'icmpv6'],
  ['any', 'any'],
]);

const ICMP_LABEL: Record<IcmpProto, string> = { icmp: 'ICMP', icmpv6: 'ICMPv6' };
const FAMILY_NAME: Record<Family, string> = { 4: 'IPv4', 6: 'IPv6' };

/**
 * Parses the rules of one guest, in order. Reports every rule at fault, each error pointing
 * at the token at fault (or where a missing one should be), so the admin fixes them all at once.
 */
export function parseRuleSet(lines: readonly RuleLine[]): Result<RuleSet> {
  const rules: Rule[] = [];
  const errors: HookError[] = [];
  const policy: Record<Direction, PolicyAction> = { ...DEFAULT_POLICY };
  const log: Record<Direction, boolean> = { in: false, out: false };
  const settingsSeen = new Map<string, Setting>();
  for (const line of lines) {
    const parsed = parseStatement(line);
    if (!parsed.ok) {
      errors.push(parsed.error);
      continue;
    }
    const statement = parsed.value;
    if (statement.kind === 'rule') {
      rules.push(line.origin ? { ...statement.rule, origin: line.origin } : statement.rule);
      continue;
    }
    // One guest's policy, set where its other rules are: a group is shared by guests that differ.
    if (line.origin) {
      errors.push(new HookError(`${statement.kind} belongs in the guest's own config: a group or firewall_default holds rules only`, statement.at));
      continue;
    }
    // Silently letting the last one win would hide which policy is in force.
    const key = `${statement.kind} ${statement.direction}`;
    const first = settingsSeen.get(key);
    if (first) {
      errors.push(new HookError(`${key} is already set on line ${first.at.line} ("${first.text}"); keep one`, statement.at));
      continue;
    }
    settingsSeen.set(key, statement);
    if (statement.kind === 'policy') policy[statement.direction] = statement.action;
    else log[statement.direction] = true;
  }
  return errors.length > 0 ? failAll(errors) : ok({ rules, policy, log });
}

interface SettingBase {
  readonly direction: Direction;
  readonly text: string;
  readonly at: Where;
}
type Setting =
  | (SettingBase & { readonly kind: 'policy'; readonly action: PolicyAction })
  | (SettingBase & { readonly kind: 'log' });
type Statement = { readonly kind: 'rule'; readonly rule: Rule } | Setting;

interface Token {
  readonly text: string;
  /** Lower-cased: keywords, services and ICMP names are case-insensitive. */
  readonly word: string;
  readonly at: Where;
}

function parseStatement(line: RuleLine): Result<Statement> {
  const tokens = [...line.value.matchAll(/\S+/g)].map(
    (m): Token => ({ text: m[0], word: lower(m[0]), at: shift(line.at, 1 + m.index) }),
  );
  const last = tokens.at(-1);
  if (!last) return fail('empty rule', shift(line.at, 1));
  const r = new Reader(tokens, shift(last.at, last.text.length));
  const text = line.value.trim();
  const head = expect(r, STATEMENTS);
  if (!head.ok) return head;
  switch (head.value.word) {
    case 'policy':
    case 'log':
      return parseSetting(head.value.word, r, text, head.value.at);
    default:
      return parseRule(head.value.word, r, text, head.value.at);
  }
}

class Reader {
  private index = 0;

  constructor(
    private readonly tokens: readonly Token[],
    /** Just after the last token: where a missing token should have been. */
    readonly end: Where,
  ) {}

  peek(): Token | undefined {
    return this.tokens[this.index];
  }

  take(): Token | undefined {
    const token = this.tokens[this.index];
    if (token) this.index++;
    return token;
  }

  here(): Where {
    return this.peek()?.at ?? this.end;
  }

  /** Where in the rule we are, in the admin's own words. */
  context(): string {
    const read = this.tokens.slice(0, this.index).map((t) => t.text);
    return read.length > 0 ? `after "${read.join(' ')}"` : 'at the start of a rule';
  }
}

function expect<const T extends string>(r: Reader, choices: readonly T[]): Result<Token & { readonly word: T }> {
  const expected = `expected ${orList(choices)} ${r.context()}`;
  const token = r.take();
  if (!token) return fail(expected, r.end);
  if (isOneOf(token.word, choices)) return ok({ ...token, word: token.word });
  return fail(`${expected}, got "${token.text}"${didYouMean(token.word, choices)}`, token.at);
}

function expectEnd(r: Reader): Result<void> {
  const token = r.peek();
  return token ? fail(`unexpected "${token.text}" ${r.context()}`, token.at) : ok(undefined);
}

function parseSetting(kind: Setting['kind'], r: Reader, text: string, at: Where): Result<Statement> {
  const direction = expect(r, DIRECTIONS);
  if (!direction.ok) return direction;
  if (kind === 'log') {
    const end = expectEnd(r);
    return end.ok ? ok({ kind, direction: direction.value.word, text, at }) : end;
  }
  const action = expect(r, POLICY_ACTIONS);
  if (!action.ok) return action;
  const end = expectEnd(r);
  return end.ok ? ok({ kind, direction: direction.value.word, action: action.value.word, text, at }) : end;
}

function parseRule(action: Action, r: Reader, text: string, at: Where): Result<Statement> {
  const direction = expect(r, DIRECTIONS);
  if (!direction.ok) return direction;
  const match = parseMatch(r);
  if (!match.ok) return match;
  const addresses = parseAddresses(r, match.value.endsWithList);
  if (!addresses.ok) return addresses;
  const sane = checkFamilies(match.value, addresses.value);
  if (!sane.ok) return sane;
  const { from, to } = addresses.value;
  const { matches } = match.value;
  return ok({ kind: 'rule', rule: { action, direction: direction.value.word, matches, from, to, text, at } });
}

/** The protocol part of a rule. */
interface MatchPart {
  readonly matches: readonly Match[];
  /** The protocol or service as written and where, for family errors. */
  readonly name: string;
  readonly at: Where;
  /** Whether it ended in a port list, so a stray word after it is likely a missing comma. */
  readonly endsWithList: boolean;
}

function parseMatch(r: Reader): Result<MatchPart> {
  const token = r.peek();
  if (!token || isClause(token)) {
    return ok({ matches: [{ proto: 'any' }], name: 'any', at: r.here(), endsWithList: false });
  }
  const proto = PROTOS.get(token.word);
  if (proto) return parseProtoArgument(proto, r.take()!, r);
  const service = SERVICES.get(token.word);
  if (service) return parseServiceRest(service, r.take()!, r);
  // Read as a list, so that `http, https` or `80,443` is reported as the whole it is.
  const entries = readList(r).map((e) => e.text);
  return fail(unknownMatch(entries), token.at);
}

function unknownMatch(entries: readonly string[]): string {
  const text = entries.join(',');
  const words = entries.map(lower);
  if (entries.every((e) => parseCidr(e).ok)) {
    return `"${text}" ${entries.length > 1 ? 'are addresses' : 'is an address'}: write "from ${text}" or "to ${text}"`;
  }
  if (looksLikePorts(text)) return `ports need a protocol: write "tcp ${text}" or "udp ${text}"`;
  if (words.length > 1 && words.every((w) => SERVICES.has(w) || PROTOS.has(w))) {
    return `one protocol or service per rule: write a rule for each of ${orList(words, 'and')}`;
  }
  const guesses = closest(lower(text), [...PROTOS.keys(), ...SERVICES.keys(), ...CLAUSES]);
  if (guesses.length === 0) {
    return `unknown protocol or service "${text}": expected tcp, udp, icmp, icmpv6, any or a service such as ssh`;
  }
  const kind = guesses.every((g) => SERVICES.has(g))
    ? 'service'
    : guesses.every((g) => PROTOS.has(g))
      ? 'protocol'
      : 'word';
  return `unknown ${kind} "${text}" (did you mean ${orList(guesses)}?)`;
}

function parseProtoArgument(proto: Match['proto'], protoToken: Token, r: Reader): Result<MatchPart> {
  const part = (matches: readonly Match[], endsWithList = false): MatchPart => ({
    matches,
    name: protoToken.word,
    at: protoToken.at,
    endsWithList,
  });
  const arg = r.peek();
  if (!arg || isClause(arg)) return ok(part([{ proto }]));
  switch (proto) {
    case 'tcp':
    case 'udp': {
      const ports = parseEach(readList(r), (text) =>
        SERVICES.has(lower(text))
          ? fail(`"${text}" is a service, not a port: write it on its own, without "${protoToken.text}"`)
          : parsePortRange(text),
      );
      return ports.ok ? ok(part([{ proto, ports: ports.value }], true)) : ports;
    }
    case 'icmp':
    case 'icmpv6': {
      r.take();
      const type = parseIcmpArgument(proto, protoToken, arg);
      return type.ok ? ok(part([{ proto, type: type.value }])) : type;
    }
    case 'any':
      if (looksLikePorts(arg.text)) return fail(`ports need tcp or udp, not ${protoToken.word}`, arg.at);
      if (icmpType('icmp', arg.text) ?? icmpType('icmpv6', arg.text)) {
        return fail(`ICMP types need icmp or icmpv6, not ${protoToken.word}`, arg.at);
      }
      // Not an argument of ours: parseAddresses says what is wrong with it.
      return ok(part([{ proto }]));
  }
}

function parseIcmpArgument(proto: IcmpProto, protoToken: Token, arg: Token): Result<string> {
  const type = icmpType(proto, arg.text);
  if (type !== undefined) return ok(type);
  if (/^\d+$/.test(arg.text)) return fail(`${ICMP_LABEL[proto]} type ${arg.text} out of range 0-255`, arg.at);
  if (looksLikePorts(arg.text)) return fail(`ports need tcp or udp, not ${protoToken.word}`, arg.at);
  const other: IcmpProto = proto === 'icmp' ? 'icmpv6' : 'icmp';
  if (icmpType(other, arg.text) !== undefined) {
    const label = ICMP_LABEL[other];
    return fail(`"${arg.text}" is an ${label} type, not ${ICMP_LABEL[proto]}: write "${other} ${arg.text}"`, arg.at);
  }
  return fail(`unknown ${ICMP_LABEL[proto]} type "${arg.text}"${didYouMean(arg.word, icmpTypeNames(proto))}`, arg.at);
}

function parseServiceRest(service: readonly Match[], serviceToken: Token, r: Reader): Result<MatchPart> {
  const arg = r.peek();
  if (arg && !isClause(arg) && looksLikePorts(arg.text)) {
    const ports = readList(r)
      .map((e) => e.text)
      .join(',');
    const protos = [...new Set(service.flatMap((m) => (m.proto === 'tcp' || m.proto === 'udp' ? [m.proto] : [])))];
    const name = serviceToken.word;
    return fail(
      protos.length > 0
        ? `service ${name} already names its ports; write ${orList(protos.map((p) => `${p} ${ports}`))} instead`
        : `service ${name} takes no ports`,
      arg.at,
    );
  }
  return ok({ matches: service, name: serviceToken.word, at: serviceToken.at, endsWithList: false });
}

interface Addresses {
  readonly from: readonly Cidr[];
  readonly to: readonly Cidr[];
  /** The clause read second, where a clash between from and to is reported. */
  readonly secondAt?: Where;
}

function parseAddresses(r: Reader, afterList: boolean): Result<Addresses> {
  const lists: Partial<Record<Clause, readonly Cidr[]>> = {};
  let secondAt: Where | undefined;
  for (let token = r.take(); token; token = r.take()) {
    if (!isClause(token)) return fail(unexpected(token, afterList), token.at);
    const clause = token.word as Clause;
    if (lists[clause]) {
      return fail(`"${clause}" given twice; put all its addresses in one list: ${clause} a, b`, token.at);
    }
    const first = r.peek();
    if (!first || isClause(first)) return fail(`expected an address or network after "${token.text}"`, r.here());
    const cidrs = parseEach(readList(r), parseCidr);
    if (!cidrs.ok) return cidrs;
    if (lists.from ?? lists.to) secondAt = token.at;
    lists[clause] = cidrs.value;
    afterList = true;
  }
  return ok({ from: lists.from ?? [], to: lists.to ?? [], secondAt });
}

function unexpected(token: Token, afterList: boolean): string {
  const guesses = closest(token.word, CLAUSES);
  if (guesses.length > 0) return `unknown word "${token.text}" (did you mean ${orList(guesses)}?)`;
  const hint = afterList ? ' (list entries are separated by commas)' : '';
  return `unexpected "${token.text}": expected from, to or the end of the rule${hint}`;
}

/**
 * Fail closed on rules that can never match: the compiler would silently drop them from
 * every table, and the admin would believe something is allowed or blocked that is not.
 */
function checkFamilies(match: MatchPart, addresses: Addresses): Result<void> {
  const from = familiesOf(addresses.from);
  const to = familiesOf(addresses.to);
  const addressed = from.filter((f) => to.includes(f));
  if (addressed.length === 0) {
    const [fromName, toName] = [FAMILY_NAME[from[0]!], FAMILY_NAME[to[0]!]];
    return fail(
      `"from" names only ${fromName} addresses and "to" only ${toName} addresses; this rule could never match`,
      addresses.secondAt,
    );
  }
  const matched = FAMILIES.filter((f) => match.matches.some((m) => matchFamilies(m).includes(f)));
  if (!matched.some((f) => addressed.includes(f))) {
    // Only icmp and icmpv6 are single-family, so the fix is always the other one.
    const [matchedName, addressedName] = [FAMILY_NAME[matched[0]!], FAMILY_NAME[addressed[0]!]];
    const fix = addressed[0] === 6 ? 'icmpv6' : 'icmp';
    return fail(
      `${match.name} is ${matchedName} only, but this rule names only ${addressedName} addresses; use ${fix}`,
      match.at,
    );
  }
  return ok(undefined);
}

/** An empty list means any address, of either family. */
function familiesOf(cidrs: readonly Cidr[]): readonly Family[] {
  return cidrs.length === 0 ? FAMILIES : FAMILIES.filter((f) => cidrs.some((c) => c.family === f));
}

interface Entry {
  readonly text: string;
  readonly at: Where;
}

/**
 * Takes the tokens of one comma-separated list (`80,443`, `80, 443`, `80 ,443`) and splits
 * it into entries with their own positions. An empty entry (`80,,443`, a trailing comma)
 * is kept, positioned where the missing value should be, for the entry parser to reject.
 * The caller has checked that a non-clause token is next.
 */
function readList(r: Reader): Entry[] {
  const tokens = [r.take()!];
  for (let next = r.peek(); next && !isClause(next); next = r.peek()) {
    if (!tokens.at(-1)!.text.endsWith(',') && !next.text.startsWith(',')) break;
    tokens.push(r.take()!);
  }
  const entries: Entry[] = [];
  let current: Entry | undefined;
  for (const token of tokens) {
    // Piece by piece, not character by character: an entry may be a megabyte long.
    let col = 0;
    token.text.split(',').forEach((piece, k) => {
      if (k > 0) {
        entries.push(current ?? { text: '', at: shift(token.at, col) });
        current = undefined;
        col++;
      }
      if (piece) current = current ? { text: current.text + piece, at: current.at } : { text: piece, at: shift(token.at, col) };
      col += codePoints(piece);
    });
  }
  const last = tokens.at(-1)!;
  entries.push(current ?? { text: '', at: shift(last.at, last.text.length) });
  return entries;
}

function parseEach<T>(entries: readonly Entry[], parse: (text: string) => Result<T>): Result<T[]> {
  const values: T[] = [];
  for (const entry of entries) {
    const value = parse(entry.text);
    if (!value.ok) return fail(value.error.message, entry.at);
    values.push(value.value);
  }
  return ok(values);
}

/** Digits with commas, dashes or colons: what an admin writes for ports, wherever it lands. */
function looksLikePorts(text: string): boolean {
  return /^[\d,:-]*\d[\d,:-]*$/.test(text);
}

function isClause(token: Token): boolean {
  return isOneOf(token.word, CLAUSES);
}

function isOneOf<T extends string>(word: string, choices: readonly T[]): word is T {
  return (choices as readonly string[]).includes(word);
}

/** Columns count characters, as the rest of the parser does: a surrogate pair is one. */
function codePoints(text: string): number {
  return text.length - (text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0);
}

function shift(at: Where, cols: number): Where {
  return { ...at, col: at.col + cols };
}

export function orList(words: readonly string[], conjunction = 'or'): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} ${conjunction} ${words.at(-1)}`;
}

/** More equally close candidates than this is no suggestion at all. */
const MAX_GUESSES = 3;

/**
 * Two edits away is a typo in a long word but another word altogether for a short one
 * (`foo` is not `to`), so words of up to four letters get one.
 */
function typoAllowance(candidate: string): number {
  return candidate.length <= 4 ? 1 : 2;
}

/**
 * Longest word that gets suggestions. The edit distance costs word length × candidate length
 * for every candidate; no keyword is near this long, and a megabyte-long token must not
 * cost seconds on a guest's start path.
 */
const SUGGEST_MAX_LENGTH = 64;

/**
 * A word as keywords are compared with it. One longer than any keyword or suggestion can
 * match nothing in either case, so it is not lowered: that costs time in a megabyte.
 */
function lower(word: string): string {
  return word.length > SUGGEST_MAX_LENGTH ? word : word.toLowerCase();
}

/** The candidates closest to word within their typo allowance; none when the word is too short (or too long) to tell. */
export function closest(word: string, candidates: Iterable<string>): string[] {
  if (word.length > SUGGEST_MAX_LENGTH) return [];
  let best = Infinity;
  let found: string[] = [];
  for (const candidate of new Set(candidates)) {
    const d = editDistance(word, candidate);
    if (d > typoAllowance(candidate) || d > best) continue;
    if (d < best) found = [];
    best = d;
    found.push(candidate);
  }
  return best < word.length && found.length <= MAX_GUESSES ? found : [];
}

function didYouMean(word: string, candidates: Iterable<string>): string {
  const guesses = closest(word, candidates);
  return guesses.length > 0 ? ` (did you mean ${orList(guesses)}?)` : '';
}

/** Optimal string alignment distance: Levenshtein plus transposition, the commonest typo (tpc). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      const transposed = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1];
      if (transposed) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

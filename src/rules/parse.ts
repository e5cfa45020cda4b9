import { HookError, type Result, type Where, fail, failAll, ok } from '../errors.js';
import { parseCidr } from './address.js';
import { FAMILIES, matchFamilies } from './cover.js';
import { type IcmpProto, icmpType, icmpTypeNames } from './icmp.js';
import {
  type Action,
  type AddressSet,
  type Cidr,
  DEFAULT_POLICY,
  type Direction,
  type Family,
  type Limit,
  type Match,
  type Origin,
  type PolicyAction,
  type PortProto,
  type PortRange,
  REJECT_ANSWERS,
  type RejectAnswer,
  type Rule,
  type RuleSet,
} from './model.js';
import { parsePortRange } from './port.js';
import { type ProtocolTable, protocolMatch, systemProtocols } from './protocols.js';
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
const ADDRESS_CLAUSES = ['from', 'to'] as const;
type AddressClause = (typeof ADDRESS_CLAUSES)[number];
/** The words that may follow the protocol part, in any order, each once. */
const CLAUSES = [...ADDRESS_CLAUSES, 'sport', 'limit', 'with', 'log'] as const;
type Clause = (typeof CLAUSES)[number];
const PORT_PROTOS = ['tcp', 'udp', 'sctp'] as const satisfies readonly PortProto[];

/** What a rule is checked against besides its own text. */
export interface RuleEnv {
  /** The named sets of vif-firewall.conf (`set_admins` is `admins`), for `@admins`. */
  readonly sets?: ReadonlyMap<string, { readonly members: readonly Cidr[] }>;
  /** Protocol names; default the host's /etc/protocols. */
  readonly protocols?: ProtocolTable;
}

type BuiltinProto = Exclude<Match['proto'], 'other'>;
const PROTOS: ReadonlyMap<string, BuiltinProto> = new Map<string, BuiltinProto>([
  ['tcp', 'tcp'],
  ['udp', 'udp'],
  ['sctp', 'sctp'],
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
export function parseRuleSet(lines: readonly RuleLine[], env: RuleEnv = {}): Result<RuleSet> {
  const rules: Rule[] = [];
  const errors: HookError[] = [];
  const policy: Record<Direction, PolicyAction> = { ...DEFAULT_POLICY };
  const log: Record<Direction, boolean> = { in: false, out: false };
  const settingsSeen = new Map<string, Setting>();
  for (const line of lines) {
    const parsed = parseStatement(line, env);
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

function parseStatement(line: RuleLine, env: RuleEnv): Result<Statement> {
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
      return parseRule(head.value.word, r, text, head.value.at, env);
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

function parseRule(action: Action, r: Reader, text: string, at: Where, env: RuleEnv): Result<Statement> {
  const direction = expect(r, DIRECTIONS);
  if (!direction.ok) return direction;
  const match = parseMatch(r, env);
  if (!match.ok) return match;
  const tail = parseTail(r, match.value.endsWithList, env);
  if (!tail.ok) return tail;
  const { from, to, sport, limit, rejectWith, log } = tail.value;
  const sane = checkFamilies(match.value, tail.value);
  if (!sane.ok) return sane;
  let { matches } = match.value;
  if (sport) {
    const withSport = withSourcePort(match.value, sport.range);
    if (!withSport.ok) return fail(withSport.error.message, sport.at);
    matches = withSport.value;
  }
  if (rejectWith) {
    if (action !== 'reject') return fail(`"with" chooses the answer of a reject rule; this rule is ${action}`, rejectWith.at);
    if (rejectWith.answer === 'tcp-reset' && !matches.every((m) => m.proto === 'tcp')) {
      return fail(`tcp-reset answers only tcp: write "reject … tcp …" or choose an icmp answer`, rejectWith.at);
    }
  }
  const rule: Rule = {
    action,
    direction: direction.value.word,
    matches,
    from: from.cidrs,
    to: to.cidrs,
    ...(from.sets.length > 0 && { fromSets: from.sets }),
    ...(to.sets.length > 0 && { toSets: to.sets }),
    ...(from.negated && { fromNegated: true as const }),
    ...(to.negated && { toNegated: true as const }),
    ...(limit && { limit }),
    ...(log && { log: true as const }),
    ...(rejectWith && { rejectWith: rejectWith.answer }),
    text,
    at,
  };
  return ok({ kind: 'rule', rule });
}

/** `sport` goes with a tcp, udp or sctp match written as such, not with a service (which names its own ports). */
function withSourcePort(match: MatchPart, sport: PortRange): Result<readonly Match[]> {
  const [only] = match.matches;
  if (match.matches.length !== 1 || !only || !isOneOf(only.proto, PORT_PROTOS) || !match.isProtocol) {
    return fail(`source ports need tcp, udp or sctp before them, not ${match.name}`);
  }
  return ok([{ ...(only as Extract<Match, { proto: PortProto }>), sport }]);
}

/** The protocol part of a rule. */
interface MatchPart {
  readonly matches: readonly Match[];
  /** The protocol or service as written and where, for family errors. */
  readonly name: string;
  readonly at: Where;
  /** Whether it ended in a port list, so a stray word after it is likely a missing comma. */
  readonly endsWithList: boolean;
  /** A protocol, not a service. */
  readonly isProtocol: boolean;
}

function parseMatch(r: Reader, env: RuleEnv): Result<MatchPart> {
  const token = r.peek();
  if (!token || isClause(token)) {
    return ok({ matches: [{ proto: 'any' }], name: 'any', at: r.here(), endsWithList: false, isProtocol: true });
  }
  const proto = PROTOS.get(token.word);
  if (proto) return parseProtoArgument({ proto }, r.take()!, r);
  const service = SERVICES.get(token.word);
  if (service) return parseServiceRest(service, r.take()!, r);
  const protocols = env.protocols ?? systemProtocols();
  if (token.word === 'proto') {
    r.take();
    const arg = r.take();
    if (!arg || isClause(arg)) return fail(`expected a protocol name or number after "proto"`, arg?.at ?? r.end);
    const match = protocolMatch(arg.text, protocols);
    return match.ok ? parseProtoArgument(match.value, arg, r) : fail(match.error.message, arg.at);
  }
  if (protocols.byName.has(token.word)) {
    const match = protocolMatch(token.text, protocols);
    return match.ok ? parseProtoArgument(match.value, r.take()!, r) : fail(match.error.message, token.at);
  }
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
  if (looksLikePorts(text)) return `ports need a protocol: write "tcp ${text}", "udp ${text}" or "sctp ${text}"`;
  if (words.length > 1 && words.every((w) => SERVICES.has(w) || PROTOS.has(w))) {
    return `one protocol or service per rule: write a rule for each of ${orList(words, 'and')}`;
  }
  const guesses = closest(lower(text), [...PROTOS.keys(), ...SERVICES.keys(), ...CLAUSES, 'proto']);
  if (guesses.length === 0) {
    return `unknown protocol or service "${text}": expected tcp, udp, sctp, icmp, icmpv6, any, a protocol of /etc/protocols (esp, gre, …), proto NUMBER or a service such as ssh`;
  }
  const kind = guesses.every((g) => SERVICES.has(g))
    ? 'service'
    : guesses.every((g) => PROTOS.has(g))
      ? 'protocol'
      : 'word';
  return `unknown ${kind} "${text}" (did you mean ${orList(guesses)}?)`;
}

function parseProtoArgument(match: Match, protoToken: Token, r: Reader): Result<MatchPart> {
  const part = (matches: readonly Match[], endsWithList = false): MatchPart => ({
    matches,
    name: protoToken.word,
    at: protoToken.at,
    endsWithList,
    isProtocol: true,
  });
  const { proto } = match;
  const arg = r.peek();
  if (!arg || isClause(arg)) return ok(part([match]));
  switch (proto) {
    case 'tcp':
    case 'udp':
    case 'sctp': {
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
    case 'other':
      if (looksLikePorts(arg.text)) return fail(`ports need tcp, udp or sctp, not ${protoToken.word}`, arg.at);
      if (icmpType('icmp', arg.text) ?? icmpType('icmpv6', arg.text)) {
        return fail(`ICMP types need icmp or icmpv6, not ${protoToken.word}`, arg.at);
      }
      // Not an argument of ours: parseTail says what is wrong with it.
      return ok(part([match]));
  }
}

function parseIcmpArgument(proto: IcmpProto, protoToken: Token, arg: Token): Result<string> {
  const type = icmpType(proto, arg.text);
  if (type !== undefined) return ok(type);
  if (/^\d+(\/\d+)?$/.test(arg.text)) return fail(`${ICMP_LABEL[proto]} type ${arg.text} out of range 0-255`, arg.at);
  if (looksLikePorts(arg.text)) return fail(`ports need tcp, udp or sctp, not ${protoToken.word}`, arg.at);
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
  return ok({ matches: service, name: serviceToken.word, at: serviceToken.at, endsWithList: false, isProtocol: false });
}

/** One side of a rule: its addresses and sets, or the one it excludes. */
interface Side {
  readonly cidrs: readonly Cidr[];
  readonly sets: readonly AddressSet[];
  readonly negated: boolean;
}
const ANYWHERE: Side = { cidrs: [], sets: [], negated: false };

/** What follows the protocol part. */
interface Tail {
  readonly from: Side;
  readonly to: Side;
  /** The clause read second, where a clash between from and to is reported. */
  readonly secondAt?: Where;
  readonly sport?: { readonly range: PortRange; readonly at: Where };
  readonly limit?: Limit;
  readonly rejectWith?: { readonly answer: RejectAnswer; readonly at: Where };
  readonly log: boolean;
}

function parseTail(r: Reader, afterList: boolean, env: RuleEnv): Result<Tail> {
  const seen = new Set<Clause>();
  let tail: Tail = { from: ANYWHERE, to: ANYWHERE, log: false };
  for (let token = r.take(); token; token = r.take()) {
    if (!isClause(token)) return fail(unexpected(token, afterList), token.at);
    const clause = token.word as Clause;
    if (seen.has(clause)) {
      return fail(
        isOneOf(clause, ADDRESS_CLAUSES) ? `"${clause}" given twice; put all its addresses in one list: ${clause} a, b` : `"${clause}" given twice`,
        token.at,
      );
    }
    seen.add(clause);
    afterList = false;
    switch (clause) {
      case 'from':
      case 'to': {
        const side = parseSide(r, token, env);
        if (!side.ok) return side;
        const other: AddressClause = clause === 'from' ? 'to' : 'from';
        tail = { ...tail, [clause]: side.value, ...(seen.has(other) && { secondAt: token.at }) };
        afterList = true;
        break;
      }
      case 'sport': {
        const arg = r.peek();
        if (!arg || isClause(arg)) return fail(`expected a source port or range after "sport"`, r.here());
        const entries = readList(r);
        if (entries.length > 1) return fail(`one source port or range per rule (write a rule for each)`, entries[1]!.at);
        const range = parsePortRange(entries[0]!.text);
        if (!range.ok) return fail(range.error.message, entries[0]!.at);
        tail = { ...tail, sport: { range: range.value, at: token.at } };
        break;
      }
      case 'limit': {
        const limit = parseLimit(r);
        if (!limit.ok) return limit;
        tail = { ...tail, limit: limit.value };
        break;
      }
      case 'with': {
        const answer = expect(r, REJECT_ANSWERS);
        if (!answer.ok) return answer;
        tail = { ...tail, rejectWith: { answer: answer.value.word, at: token.at } };
        break;
      }
      case 'log':
        tail = { ...tail, log: true };
        break;
    }
  }
  return ok(tail);
}

/** Both limits iptables' limit match enforces: at most 10000 a second, a burst of at most 10000. */
const LIMIT_MAX = 10000;
const LIMIT_UNITS: ReadonlyMap<string, Limit['per']> = new Map([
  ['second', 'second'],
  ['sec', 'second'],
  ['minute', 'minute'],
  ['min', 'minute'],
  ['hour', 'hour'],
  ['day', 'day'],
]);
const DEFAULT_BURST = 5;

/** `limit 50/second [burst 100]`. */
function parseLimit(r: Reader): Result<Limit> {
  const usage = 'expected a rate such as 50/second (per second, minute, hour or day) after "limit"';
  const rate = r.take();
  if (!rate) return fail(usage, r.end);
  const m = /^(\d+)\/([a-z]+)$/.exec(rate.word);
  const per = m && LIMIT_UNITS.get(m[2]!);
  if (!m || !per) return fail(`${usage}, got "${rate.text}"`, rate.at);
  const count = Number(m[1]);
  if (count < 1 || count > LIMIT_MAX) return fail(`rate ${count} out of range 1-${LIMIT_MAX}`, rate.at);
  if (r.peek()?.word !== 'burst') return ok({ count, per, burst: DEFAULT_BURST });
  r.take();
  const burst = r.take();
  if (!burst || !/^\d+$/.test(burst.text) || Number(burst.text) < 1 || Number(burst.text) > LIMIT_MAX) {
    return fail(`expected a number of packets 1-${LIMIT_MAX} after "burst"`, burst?.at ?? r.end);
  }
  return ok({ count, per, burst: Number(burst.text) });
}

/**
 * The addresses after `from` or `to`: networks and `@sets`, or one of them negated (`!10.0.0.0/8`,
 * `!@internal`). Several negated entries are refused: whether `!a, !b` means "neither" or
 * "not both" is a guess, and a set says it without doubt.
 */
function parseSide(r: Reader, clause: Token, env: RuleEnv): Result<Side> {
  const first = r.peek();
  if (!first || isClause(first)) return fail(`expected an address, network or @set after "${clause.text}"`, r.here());
  // `from ! 10.0.0.0/8`: the `!` apart from its address.
  const bang = first.text === '!' ? r.take() : undefined;
  if (bang && (!r.peek() || isClause(r.peek()!))) return fail(`expected an address, network or @set after "!"`, r.here());
  const entries = readList(r);
  if (bang) entries[0] = { text: `!${entries[0]!.text}`, at: bang.at };
  const negated = entries.filter((e) => e.text.startsWith('!'));
  if (negated.length > 0 && entries.length > 1) {
    return fail(
      `"!" excludes one address or set; to exclude several, put them in a set (set_NAME in vif-firewall.conf) and write ${clause.word} !@NAME`,
      (negated[0] === entries[0] ? entries[1] : negated[0])!.at,
    );
  }
  const cidrs: Cidr[] = [];
  const sets: AddressSet[] = [];
  for (const entry of entries) {
    const text = entry.text.replace(/^!/, '');
    if (text.startsWith('@')) {
      const set = setNamed(text.slice(1), env);
      if (!set.ok) return fail(set.error.message, entry.at);
      sets.push(set.value);
      continue;
    }
    const cidr = parseCidr(text);
    if (!cidr.ok) return fail(cidr.error.message, entry.at);
    cidrs.push(cidr.value);
  }
  return ok({ cidrs, sets, negated: negated.length > 0 });
}

function setNamed(name: string, env: RuleEnv): Result<AddressSet> {
  const known = env.sets ?? new Map<string, { readonly members: readonly Cidr[] }>();
  const set = known.get(name);
  if (set) return ok({ name, members: set.members });
  if (name === '') return fail('expected a set name after "@"');
  const where = 'sets are defined in vif-firewall.conf as set_NAME = [ "192.0.2.0/24", … ]';
  return fail(`unknown set "@${name}" (${where})${didYouMean(name, known.keys())}`);
}

function unexpected(token: Token, afterList: boolean): string {
  const guesses = closest(token.word, CLAUSES);
  if (guesses.length > 0) return `unknown word "${token.text}" (did you mean ${orList(guesses)}?)`;
  const hint = afterList ? ' (list entries are separated by commas)' : '';
  return `unexpected "${token.text}": expected ${CLAUSES.join(', ')} or the end of the rule${hint}`;
}

/**
 * Fail closed on rules that can never match: the compiler would silently drop them from
 * every table, and the admin would believe something is allowed or blocked that is not.
 */
function checkFamilies(match: MatchPart, addresses: Tail): Result<void> {
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

/**
 * An empty list means any address, of either family. A set is in both families (an empty half
 * matches nothing until members come), and so is a negation (not 10.0.0.0/8 is every IPv6 address).
 */
function familiesOf(side: Side): readonly Family[] {
  if (side.cidrs.length === 0 || side.sets.length > 0 || side.negated) return FAMILIES;
  return FAMILIES.filter((f) => side.cidrs.some((c) => c.family === f));
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

import { HookError, type Result, type Where, errorsOf, failAll } from '../errors.js';
import type { GroupUse, RuleSet } from './model.js';
import { type RuleEnv, type RuleLine, closest, orList, parseRuleSet } from './parse.js';

/**
 * Rules shared by guests, defined once in the hook's settings file: named groups a guest's
 * rules pull in with `use NAME`, and the host's defaults that go before every guest's rules.
 */
export interface SharedRules {
  readonly groups: ReadonlyMap<string, RuleGroup>;
  /** firewall_default: put before the rules of every managed vif whose guest does not opt out. */
  readonly defaults: readonly RuleLine[];
}

/** `group_NAME = [ … ]`. */
export interface RuleGroup {
  readonly name: string;
  /** The key's position in the settings file. */
  readonly at: Where;
  readonly lines: readonly RuleLine[];
}

/** A vif's rule set, and the lines it was parsed from: the defaults and every group expanded, each line with its origin. */
export interface ExpandedRules {
  readonly ruleSet: RuleSet;
  readonly lines: readonly RuleLine[];
}

/**
 * The rule set of one vif: the host's defaults (unless the guest opted out), then the guest's
 * own lines, every `use` expanded in place. Every error of all of them is reported. The
 * expanded lines parse to the same rule set on their own (given the same sets): what online
 * installed can be rebuilt from them whatever the groups say later.
 */
export function parseGuestRuleSet(
  own: readonly RuleLine[],
  shared: SharedRules,
  withDefaults: boolean,
  settingsFile: string,
  env: RuleEnv = {},
): Result<ExpandedRules> {
  const errors: HookError[] = [];
  const where = { ...shared, settingsFile };
  const defaults = withDefaults ? shared.defaults.map((l): RuleLine => ({ ...l, origin: { hostDefault: true, via: [] } })) : [];
  const lines = [...defaults, ...own].flatMap((l) => expand(l, where, errors));
  const parsed = parseRuleSet(lines, env);
  const all = [...errors, ...(parsed.ok ? [] : [parsed.error])];
  if (all.length > 0) return failAll(inSourceOrder(all.flatMap(errorsOf), own[0]?.at.file));
  return parsed.ok ? { ok: true, value: { ruleSet: parsed.value, lines } } : parsed;
}

/** The shared rules, and the file they are defined in, named in messages about a group that is not there. */
type Library = SharedRules & { readonly settingsFile: string };

/** A line, or the lines of the group it uses, recursively; an error leaves the line out. */
function expand(line: RuleLine, shared: Library, errors: HookError[]): RuleLine[] {
  const words = [...line.value.matchAll(/\S+/g)];
  if (words[0]?.[0].toLowerCase() !== 'use') return [line];
  const col = (m: RegExpMatchArray): Where => ({ ...line.at, col: line.at.col + 1 + m.index! });
  const [, name, extra] = words;
  if (!name) return fail(errors, 'expected a group name after "use"', { ...line.at, col: line.at.col + 1 + line.value.trimEnd().length });
  if (extra) return fail(errors, `unexpected "${extra[0]}" after "use ${name[0]}": one group per use`, col(extra));
  const group = shared.groups.get(name[0].toLowerCase());
  if (!group) return fail(errors, unknownGroup(name[0], shared), col(name));
  const via = line.origin?.via ?? [];
  const use: GroupUse = { group: group.name, at: col(name) };
  const loop = via.findIndex((u) => u.group === group.name);
  if (loop >= 0) return fail(errors, `group cycle: ${[...via.slice(loop).map((u) => u.group), group.name].join(' → ')}`, use.at);
  const origin = { hostDefault: line.origin?.hostDefault ?? false, via: [...via, use] };
  return group.lines.flatMap((l) => expand({ ...l, origin }, shared, errors));
}

function unknownGroup(name: string, shared: Library): string {
  const guesses = closest(name.toLowerCase(), shared.groups.keys());
  const hint = guesses.length > 0 ? ` (did you mean ${orList(guesses)}?)` : '';
  return `unknown group "${name}"${hint}: groups are defined in ${shared.settingsFile} as group_NAME = [ "…" ]`;
}

function fail(errors: HookError[], message: string, at: Where): RuleLine[] {
  errors.push(new HookError(message, at));
  return [];
}

/** By file, the guest's own first, then by position: as a compiler lists them. */
function inSourceOrder(errors: readonly HookError[], guestFile: string | undefined): HookError[] {
  const files = [...new Set([guestFile, ...errors.map((e) => e.where?.file)])];
  const key = (e: HookError) => [files.indexOf(e.where?.file), e.where?.line ?? 0, e.where?.col ?? 0];
  return [...errors].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
}

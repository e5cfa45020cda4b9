import { fail, ok, type Result, type Where } from '../errors.js';
import type { XlConfig, XlValue } from './model.js';

/*
 * Typed reads of one key. An absent key is `undefined`, not an error: every caller has a
 * default. A wrongly typed value fails at the value's own position.
 */

export function getString(cfg: XlConfig, key: string): Result<{ value: string; at: Where } | undefined> {
  const v = cfg.settings.get(key)?.value;
  if (!v) return ok(undefined);
  const value = singleText(v);
  return value === undefined ? fail(`"${key}" must be a string, e.g. ${key} = "…"`, v.at) : ok({ value, at: v.at });
}

export function getStringList(cfg: XlConfig, key: string): Result<readonly { value: string; at: Where }[] | undefined> {
  const v = cfg.settings.get(key)?.value;
  if (!v) return ok(undefined);
  const problem = `"${key}" must be a list of strings, e.g. [ "…" ]`;
  if (v.kind !== 'list') return fail(problem, v.at);
  const items: { value: string; at: Where }[] = [];
  for (const item of v.items) {
    const value = singleText(item);
    if (value === undefined) return fail(`${problem}, not a list of lists`, item.at);
    items.push({ value, at: item.at });
  }
  return ok(items);
}

export function getNumber(cfg: XlConfig, key: string): Result<{ value: number; at: Where } | undefined> {
  const v = cfg.settings.get(key)?.value;
  if (!v) return ok(undefined);
  return v.kind === 'number' ? ok({ value: v.value, at: v.at }) : fail(`"${key}" must be a number, e.g. ${key} = 1`, v.at);
}

/** libxlu stores numbers as text, so xl reads `name = 42` as the string "42"; so do we. */
function singleText(v: XlValue): string | undefined {
  if (v.kind === 'string') return v.value;
  if (v.kind === 'number') return v.text;
  return undefined;
}

import { basename } from 'node:path';
import type { Where } from '../errors.js';
import type { Rule } from '../rules/model.js';

/**
 * Where a rule came from, as an admin traces it back: the guest's config line that brought it
 * in, then each group it came through with the line inside that group
 * (`web.cfg:4 via group web (vif-firewall.conf:12)`); a host default says so.
 */
export function describeOrigin(rule: Rule): string {
  const via = rule.origin?.via ?? [];
  const first = via[0]?.at ?? rule.at;
  const head = `${place(first)}${rule.origin?.hostDefault ? ' (firewall_default)' : ''}`;
  return [head, ...via.map((use, i) => `via group ${use.group} (${place(via[i + 1]?.at ?? rule.at)})`)].join(' ');
}

/** The same, as data: the rule's own place, and each use that led to it, outermost first. */
export function originData(rule: Rule) {
  return {
    text: describeOrigin(rule),
    at: rule.at,
    hostDefault: rule.origin?.hostDefault ?? false,
    via: (rule.origin?.via ?? []).map((use) => ({ group: use.group, use: use.at })),
  };
}

function place(at: Where): string {
  return `${basename(at.file)}:${at.line}`;
}

import type { Where } from '../errors.js';
import type { RuleSet } from '../rules/model.js';
import type { RuleLine } from '../rules/parse.js';
import type { XlConfig } from '../xlconfig/model.js';
import type { Finding } from './analyse.js';

/**
 * What a domain config says that online accepts but almost certainly does not mean: a key of
 * ours misspelt (xl ignores keys it does not know, and so does online), a firewall list set
 * twice (xl keeps the last), a firewall_vifN for a vif the guest does not have, and rules that
 * let everything in.
 */

const FIREWALL_KEY = /^firewall(?:_vif\d+|_antispoof)?$/;
const OURS = ['firewall', 'firewall_antispoof', 'firewall_vif0'];

export function lintConfigKeys(cfg: XlConfig, vifCount: number | undefined): Finding[] {
  const findings: Finding[] = [];
  for (const [key, s] of cfg.settings) {
    if (FIREWALL_KEY.test(key)) continue;
    const near = OURS.find((k) => distance(key, k) <= 2);
    if (near)
      findings.push(warning(s.at, `unknown key "${key}", ignored by xl and vif-firewall: did you mean ${near === 'firewall_vif0' ? '"firewall_vifN"' : `"${near}"`}?`));
  }
  for (const s of cfg.replaced)
    if (FIREWALL_KEY.test(s.key)) {
      const last = cfg.settings.get(s.key)!;
      findings.push(warning(s.at, `"${s.key}" is set again on line ${last.at.line}: xl keeps only the last, so this one is ignored`));
    }
  if (vifCount !== undefined)
    for (const [key, s] of cfg.settings) {
      const n = /^firewall_vif(\d+)$/.exec(key);
      if (n && Number(n[1]) >= vifCount)
        findings.push(warning(s.at, `"${key}" applies to no vif: the vif list has ${vifCount} (vif 0${vifCount > 1 ? `-${vifCount - 1}` : ''})`));
    }
  return findings.sort((a, b) => a.at.line - b.at.line || a.at.col - b.at.col);
}

/** Rules that let every packet in: an `allow in` that matches everything, and `policy in accept`. */
export function lintAllowsEverything(ruleSet: RuleSet, lines: readonly RuleLine[]): Finding[] {
  const findings: Finding[] = [];
  for (const r of ruleSet.rules)
    if (r.direction === 'in' && r.action === 'allow' && r.from.length === 0 && r.to.length === 0 && r.matches.some((m) => m.proto === 'any'))
      findings.push(warning(r.at, `"${r.text}" allows everything to the guest: the firewall no longer protects it`));
  const policy = lines.find((l) => /^\s*policy\s+in\s+accept\s*$/.test(l.value));
  if (policy && ruleSet.policy.in === 'accept')
    findings.push(warning(policy.at, '"policy in accept" lets everything in that no rule drops: the firewall only blocks what is listed'));
  return findings;
}

function warning(at: Where, message: string): Finding {
  return { severity: 'warning', at, message };
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

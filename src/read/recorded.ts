import type { VifRecord } from '../apply/records.js';
import { compileVifFirewall, type VifFirewall } from '../compile/firewall.js';
import { unwrap } from '../errors.js';
import type { RuleSet } from '../rules/model.js';
import { parseRuleSet, type RuleLine } from '../rules/parse.js';
import { antispoofSpec } from './antispoof.js';
import { readGuestRules } from './domainConfig.js';
import { DEFAULT_SETTINGS, type Settings } from './settings.js';

/** What a record says is installed for its device: the rule lines, their rule set, and the whole firewall they compile to. */
export interface Installed {
  readonly lines: readonly RuleLine[];
  readonly ruleSet: RuleSet;
  readonly firewall: VifFirewall;
}

/**
 * Rebuilds what online (or reload) installed from the record alone: its rule lines, MAC,
 * addresses and level, compiled as then. A record of an older version has no lines: its
 * config, as it reads now, stands in. The lines are recorded with every group and default
 * expanded, so of the settings only the named sets they use matter.
 */
export async function installedOf(record: VifRecord, settings: Settings = DEFAULT_SETTINGS): Promise<Installed> {
  const lines = record.source ? record.source.lines : (await readGuestRules(record.configFile, record.devid, settings)).lines;
  const ruleSet = unwrap(parseRuleSet(lines, { sets: settings.sets }));
  const antispoof = antispoofSpec(record.antispoof, record.mac, record.ip.join(' '), `the record of ${record.vif}`);
  return { lines, ruleSet, firewall: compileVifFirewall(ruleSet, antispoof, { dev: record.dev, domain: record.domain }) };
}

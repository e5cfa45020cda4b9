import { readFile } from 'node:fs/promises';
import { HookError, formatWhere, unwrap } from '../errors.js';
import { analyseRuleSet, unusedSets } from '../lint/analyse.js';
import { readSettings } from '../read/settings.js';
import type { RuleSet } from '../rules/model.js';
import { type RuleEnv, parseRuleSet } from '../rules/parse.js';
import { getStringList } from '../xlconfig/access.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import { type Command, EXIT, UsageError, describeError } from './command.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'check <file>...: lint domain configs (errors, shadowed and duplicate rules, wrong families)',
  help: `usage: vif-firewall check <file>...

Parses each domain config as online would (the firewall key and every firewall_vifN),
printing errors as file:line:col: message, and warns about rules that can never match
(shadowed by an earlier rule), duplicate rules, and addresses of the wrong family for a
rule's protocol. Needs no root and changes nothing.

exit: 0 no errors (warnings allowed), 1 errors found, 2 bad usage`,
  async run(args) {
    const files = args._.map(String);
    if (files.length === 0) throw new UsageError('name at least one config file');
    let errors = 0;
    // The named sets rules may use; an unreadable vif-firewall.conf is an error of its own.
    const settings = await readSettings(process.env);
    const ruleSets: RuleSet[] = [];
    for (const file of files) {
      const problems = await checkFile(file, { sets: settings.sets }, ruleSets);
      for (const p of problems) process.stdout.write(`${p.text}\n`);
      errors += problems.filter((p) => p.error).length;
      if (problems.length === 0) process.stdout.write(`${file}: ok\n`);
    }
    for (const f of unusedSets(settings.sets, ruleSets)) process.stdout.write(`${formatWhere(f.at)}: warning: ${f.message}\n`);
    return errors > 0 ? EXIT.failed : EXIT.ok;
  },
};

interface Problem {
  readonly error: boolean;
  readonly text: string;
}

async function checkFile(file: string, env: RuleEnv, ruleSets: RuleSet[]): Promise<Problem[]> {
  try {
    const cfg = unwrap(parseXlConfig(await readFile(file, 'utf8').catch((e: Error) => {
      throw new HookError(`cannot read ${file}: ${e.message}`);
    }), file));
    const keys = [...cfg.settings.keys()].filter((k) => k === 'firewall' || /^firewall_vif\d+$/.test(k));
    const problems: Problem[] = [];
    for (const key of keys) {
      try {
        const ruleSet = unwrap(parseRuleSet(unwrap(getStringList(cfg, key)) ?? [], env));
        ruleSets.push(ruleSet);
        for (const f of analyseRuleSet(ruleSet)) problems.push({ error: false, text: `${formatWhere(f.at)}: warning: ${f.message}` });
      } catch (e) {
        problems.push({ error: true, text: describeError(e) });
      }
    }
    if (keys.length === 0) problems.push({ error: false, text: `${file}: warning: no firewall key: the default policies apply (inbound dropped)` });
    return problems;
  } catch (e) {
    return [{ error: true, text: describeError(e) }];
  }
}

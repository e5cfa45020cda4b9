import { readFile } from 'node:fs/promises';
import { HookError, formatWhere, unwrap } from '../errors.js';
import { analyseRuleSet } from '../lint/analyse.js';
import { keyRuleSet } from '../read/domainConfig.js';
import { readSettings, type Settings } from '../read/settings.js';
import { fileSources, renderDiagnostics } from '../report/diagnostic.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import { type Command, EXIT, UsageError, describeError } from './command.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'check <file>...: lint domain configs (errors, shadowed and duplicate rules, wrong families)',
  help: `usage: vif-firewall check <file>...

Parses each domain config as online would (the firewall key and every firewall_vifN, after
the host's firewall_default, with the groups of the settings file). Prints every error as
file:line:col: error: message, with the line and a caret under the column, and warns about
rules that can never match
(shadowed by an earlier rule), duplicate rules, and addresses of the wrong family for a
rule's protocol. Needs no root and changes nothing.

exit: 0 no errors (warnings allowed), 1 errors found, 2 bad usage`,
  async run(args) {
    const files = args._.map(String);
    if (files.length === 0) throw new UsageError('name at least one config file');
    const settings = await readSettings(process.env);
    let errors = 0;
    for (const file of files) {
      const problems = await checkFile(file, settings);
      for (const p of problems) process.stdout.write(`${p.text}\n`);
      errors += problems.filter((p) => p.error).length;
      if (problems.length === 0) process.stdout.write(`${file}: ok\n`);
    }
    return errors > 0 ? EXIT.failed : EXIT.ok;
  },
};

interface Problem {
  readonly error: boolean;
  readonly text: string;
}

async function checkFile(file: string, settings: Settings): Promise<Problem[]> {
  const sources = fileSources();
  const error = (e: unknown): Problem => ({
    error: true,
    text: e instanceof HookError ? renderDiagnostics(e, sources).join('\n') : describeError(e),
  });
  try {
    const text = await readFile(file, 'utf8').catch((e: Error) => {
      throw new HookError(`cannot read ${file}: ${e.message}`);
    });
    const cfg = unwrap(parseXlConfig(text, file));
    const keys = [...cfg.settings.keys()].filter((k) => k === 'firewall' || /^firewall_vif\d+$/.test(k));
    const problems: Problem[] = [];
    // Without a firewall key the host's defaults still apply, and are checked with the guest's opt-out.
    for (const key of keys.length > 0 ? keys : [undefined]) {
      try {
        const ruleSet = keyRuleSet(cfg, key, settings);
        for (const f of analyseRuleSet(ruleSet)) problems.push({ error: false, text: `${formatWhere(f.at)}: warning: ${f.message}` });
      } catch (e) {
        problems.push(error(e));
      }
    }
    if (keys.length === 0) problems.push({ error: false, text: `${file}: warning: no firewall key: the default policies apply (inbound dropped)` });
    // The host's defaults are in every key's rule set: say what is wrong with them once.
    return problems.filter((p, i) => problems.findIndex((q) => q.text === p.text) === i);
  } catch (e) {
    return [error(e)];
  }
}

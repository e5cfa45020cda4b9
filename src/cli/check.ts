import { resolve } from 'node:path';
import { HookError, type Where, errorsOf, formatWhere, unwrap } from '../errors.js';
import { analyseRuleSet, type Finding, unusedSets } from '../lint/analyse.js';
import { lintAllowsEverything, lintConfigKeys } from '../lint/config.js';
import { MAC_STAND_IN, antispoofLevelOf, antispoofSpec } from '../read/antispoof.js';
import { readConfigText } from '../read/configFile.js';
import { guestRulesOf, keyRuleSet, locateDomainConfig, namesFile } from '../read/domainConfig.js';
import { DEFAULT_SETTINGS, DEFAULT_SETTINGS_FILE, readSettings, type Settings } from '../read/settings.js';
import type { RuleSet } from '../rules/model.js';
import { type Sources, fileSources, renderDiagnostic } from '../report/diagnostic.js';
import { getStringList } from '../xlconfig/access.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import { type Command, EXIT, describeError } from './command.js';
import { writeJson } from './json.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'check <domain | file>...: validate domain configs exactly as online does, and warn of likely mistakes',
  help: `usage: vif-firewall check <domain | config-file>... [--json]

Runs online's own validation on each domain config (found by name in config_dirs, as show
does, or the file given) and on the hook's settings (/etc/xen/vif-firewall.conf, or
VIF_FIREWALL_CONF): every firewall key's rules, firewall_antispoof, and the mac= and ip= of
each vif in the vif list (which xl hands to online through xenstore). An error here is an
error online reports when the guest starts: its vif then fails to come up. The rules are
read as online reads them: the host's firewall_default first (unless the guest opts out),
each "use NAME" expanded from the settings' group_NAME. Every error is reported, as
file:line:col: error: message, then the source line and a caret under the column.

Warns, as file:line:col: warning: …, of what online accepts but you probably did not mean:
rules that can never match (shadowed by an earlier rule), duplicate rules, addresses of the
wrong family for a rule's protocol, rules that allow everything in (allow in with no match,
policy in accept), a misspelt key of ours ("did you mean firewall?"; xl ignores keys it does
not know), a firewall key set twice (xl keeps the last), firewall_vifN for a vif the guest
does not have, and a config with no firewall key. Needs no root and changes nothing.

  --json   the same as data: { "version": 1, "ok", "files": [ { "file", "ok", "problems":
           [ { "severity", "file", "line", "col", "message" } ] } ] }

exit: 0 online would accept every config (warnings allowed), 1 it would refuse one, 2 bad usage`,
  booleans: ['json'],
  positional: { min: 1, max: undefined, what: 'at least one domain or config file' },
  async run(args) {
    const targets = args._.map(String);
    const read = await readSettings(process.env).then(
      (settings) => ({ settings, problems: [] as Problem[] }),
      (e: unknown) => ({ settings: DEFAULT_SETTINGS, problems: problemsOf(e) }),
    );
    const results: { file: string; problems: Problem[] }[] = [];
    // Online reads the settings first: an error there refuses every guest.
    if (read.problems.length) results.push({ file: process.env.VIF_FIREWALL_CONF || DEFAULT_SETTINGS_FILE, problems: read.problems });
    const ruleSets: RuleSet[] = [];
    for (const target of targets) {
      const found = await configOf(target, read.settings);
      results.push('errors' in found ? { file: target, problems: found.errors } : { file: found.file, problems: await checkFile(found.file, read.settings, ruleSets) });
    }
    // Named sets none of the checked configs uses: warned at their definitions in the settings.
    const unused = unusedSets(read.settings.sets, ruleSets).map(warningOf);
    if (unused.length) results.push({ file: read.settings.file ?? DEFAULT_SETTINGS_FILE, problems: unused });
    const failed = results.some((r) => r.problems.some((p) => p.severity === 'error'));
    if (args.json) {
      const files = results.map((r) => ({
        file: r.file,
        ok: !r.problems.some((p) => p.severity === 'error'),
        problems: r.problems.map((p) => ({ severity: p.severity, file: p.where?.file ?? r.file, line: p.where?.line ?? null, col: p.where?.col ?? null, message: p.message })),
      }));
      writeJson({ ok: !failed, files });
    } else {
      const sources = fileSources();
      for (const r of results) {
        for (const p of r.problems) process.stdout.write(`${problemText(p, r.file, sources)}\n`);
        if (r.problems.length === 0) process.stdout.write(`${r.file}: ok\n`);
      }
    }
    return failed ? EXIT.failed : EXIT.ok;
  },
};

interface Problem {
  readonly severity: 'error' | 'warning';
  readonly where: Where | undefined;
  readonly message: string;
}

/** An error as a compiler shows it, with its source line and a caret; a warning on one line. */
function problemText(p: Problem, file: string, sources: Sources): string {
  if (!p.where) return `${file}: ${p.severity}: ${p.message}`;
  return p.severity === 'error' ? renderDiagnostic('error', p.message, p.where, sources).join('\n') : `${formatWhere(p.where)}: warning: ${p.message}`;
}

/** Every error an exception stands for (a rule list reports all of its errors at once). */
function problemsOf(e: unknown, where?: Where): Problem[] {
  if (e instanceof HookError) return errorsOf(e).map((one) => ({ severity: 'error', where: one.where ?? where, message: one.message }));
  return [{ severity: 'error', where, message: describeError(e) }];
}

const warningOf = (f: Finding): Problem => ({ severity: 'warning', where: f.at, message: f.message });

/** A path names a file; a bare name is a domain, found as online finds it when replayed. */
async function configOf(target: string, settings: Settings): Promise<{ file: string } | { errors: Problem[] }> {
  if (namesFile(target)) return { file: resolveShown(target) };
  try {
    return { file: (await locateDomainConfig(target, settings.configDirs)).file };
  } catch (e) {
    return { errors: problemsOf(e) };
  }
}

/** Relative paths stay as given, so messages name the file as the admin typed it. */
function resolveShown(target: string): string {
  return target.startsWith('/') ? resolve(target) : target;
}

async function checkFile(file: string, settings: Settings, ruleSets: RuleSet[]): Promise<Problem[]> {
  let text: string;
  try {
    text = await readConfigText(file, 'domain config');
  } catch (e) {
    return problemsOf(e instanceof HookError ? e : new HookError(`cannot read ${file}: ${(e as Error).message}`));
  }
  const parsed = parseXlConfig(text, file);
  if (!parsed.ok) return problemsOf(parsed.error);
  const cfg = parsed.value;
  const problems: Problem[] = [];
  const attempt = <T>(f: () => T, where?: Where): T | undefined => {
    try {
      return f();
    } catch (e) {
      problems.push(...problemsOf(e, where));
      return undefined;
    }
  };
  // Every list of rules online may read, each once (firewall serves every vif without its own
  // key); without any, the host's defaults still apply, checked with the guest's opt-out.
  const keys = [...cfg.settings.keys()].filter((k) => k === 'firewall' || /^firewall_vif\d+$/.test(k));
  for (const key of keys.length > 0 ? keys : [undefined]) {
    const expanded = attempt(() => keyRuleSet(cfg, key, settings));
    if (!expanded) continue;
    ruleSets.push(expanded.ruleSet);
    problems.push(...[...analyseRuleSet(expanded.ruleSet), ...lintAllowsEverything(expanded.ruleSet, expanded.lines)].map(warningOf));
  }
  const level = attempt(() => antispoofLevelOf(cfg, 'firewall_antispoof'));
  const vifs = attempt(() => unwrap(getStringList(cfg, 'vif')));
  // What xl writes to xenstore for each vif (its mac= and ip=), checked as online checks it there.
  for (let devid = 0; devid < (vifs?.length ?? 0); devid++) {
    const guest = (() => {
      try {
        return guestRulesOf(text, file, devid, settings);
      } catch {
        return undefined; // its rules' error is reported above
      }
    })();
    if (!guest) continue;
    const item = vifs![devid]!;
    // One key at a time, so the message points at the value at fault inside the vif spec.
    for (const [key, mac, ip] of [['mac', guest.mac ?? MAC_STAND_IN, undefined], ['ip', MAC_STAND_IN, guest.ip]] as const)
      attempt(() => {
        try {
          antispoofSpec(level ?? settings.antispoof, mac, ip, `vif ${devid}`);
        } catch (e) {
          const col = item.at.col + 1 + item.value.indexOf(`${key}=`) + key.length + 1;
          throw new HookError((e as Error).message.replace(/^vif (\d+)\//, 'vif $1: '), { ...item.at, col });
        }
      });
  }
  problems.push(...lintConfigKeys(cfg, vifs?.length).map(warningOf));
  if (keys.length === 0) problems.push({ severity: 'warning', where: undefined, message: 'no firewall key: the default policies apply (inbound dropped)' });
  const at = (p: Problem) => (p.where ? p.where.line * 1e6 + p.where.col : Number.MAX_SAFE_INTEGER);
  // The host's defaults are in every key's rule set: what is wrong with them is said once.
  const key = (p: Problem) => `${p.severity} ${p.where ? `${p.where.file}:${p.where.line}:${p.where.col}` : ''} ${p.message}`;
  const unique = problems.filter((p, i) => problems.findIndex((q) => key(q) === key(p)) === i);
  return unique.sort((a, b) => (a.where?.file === b.where?.file ? at(a) - at(b) : a.where?.file === file ? -1 : 1));
}

import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HookError, unwrap } from '../errors.js';
import { parseGuestRuleSet, type ExpandedRules } from '../rules/groups.js';
import type { AntispoofLevel, RuleSet } from '../rules/model.js';
import type { RuleLine } from '../rules/parse.js';
import { DEFAULT_SETTINGS, DEFAULT_SETTINGS_FILE, type Settings } from './settings.js';
import type { XlConfig } from '../xlconfig/model.js';
import { antispoofLevelOf } from './antispoof.js';
import { readConfigText } from './configFile.js';
import { quote } from '../report/text.js';
import { getString, getStringList } from '../xlconfig/access.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import { configFileFromXlArgv } from '../xlconfig/xlCommandLine.js';

/** The domain config a call uses, and how it was found (said by --dry-run, --verbose and show). */
export interface LocatedConfig {
  readonly file: string;
  readonly how: string;
}

/**
 * Where the guest's config is. During `xl create FILE` the hook is xl's child, and xl's
 * argv and cwd name exactly the file it parsed (libxl has stored nothing yet and drops
 * our keys anyway). Otherwise (network-attach, a replay) the domain's name finds it.
 * When nothing is found, the error lists every place that was tried.
 */
export async function locateDomainConfig(domain: string, configDirs: readonly string[], parentPid?: number): Promise<LocatedConfig> {
  const xl = parentPid === undefined ? undefined : await configOfXlParent(parentPid);
  if (xl?.exists) return { file: xl.file, how: `named by the command line of its parent, xl create (pid ${parentPid})` };
  if (!usableAsFileName(domain))
    throw new HookError(
      `no domain config for ${quote(domain)}: a name with '/' or a control character, or "." or "..", is never looked up in config_dirs`,
    );
  const candidates = configDirs.flatMap((dir) => [join(dir, `${domain}.cfg`), join(dir, domain)]);
  const found = candidates.find((f) => existsSync(f));
  if (found) return { file: found, how: `found by the domain's name ${quote(domain)} in config_dirs (${configDirs.join(', ')})` };
  const tried = [...(xl ? [`${xl.file} (named by xl create, pid ${parentPid}: gone)`] : []), ...candidates];
  throw new HookError(
    `no domain config for ${quote(domain)}: tried ${tried.join(', ')}${xl ? '' : ' (not run by xl create: the domain\'s name is looked up in config_dirs)'}`,
  );
}

/** Whether an operator command's argument names a file (a path, or a file that exists) rather than a domain. */
export function namesFile(target: string): boolean {
  return existsSync(target) || target.includes('/');
}

/** An operator command's argument: a file as it is (resolved), or a domain, found as online finds it when replayed. */
export async function locateTarget(target: string, configDirs: readonly string[]): Promise<LocatedConfig> {
  return namesFile(target) ? { file: resolve(target), how: 'given on the command line' } : locateDomainConfig(target, configDirs);
}

/** `--vif N` must name a vif of the config: an entry of its vif list, or a firewall_vifN key. */
export function requireVif(guest: GuestRules, devid: number, file: string): void {
  if (devid < guest.vifs || guest.key === `firewall_vif${devid}`) return;
  const entries = guest.vifs === 1 ? '1 entry (vif 0)' : `${guest.vifs} entries${guest.vifs ? ` (vif 0 to ${guest.vifs - 1})` : ''}`;
  throw new HookError(`${file} has no vif ${devid}: its vif list has ${entries}, and there is no firewall_vif${devid} key`);
}

/** A domain name names a file inside config_dirs only if it cannot lead out of them. */
function usableAsFileName(domain: string): boolean {
  return domain !== '.' && domain !== '..' && !/[/\x00-\x1f\x7f]/.test(domain);
}

/** The file on the command line of an `xl create` that is our parent, if it is one. */
async function configOfXlParent(pid: number): Promise<{ file: string; exists: boolean } | undefined> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a, i, all) => a || i < all.length - 1);
    const file = configFileFromXlArgv(argv, await readlink(`/proc/${pid}/cwd`));
    return file === undefined ? undefined : { file, exists: existsSync(file) };
  } catch {
    return undefined;
  }
}

export interface GuestRules {
  readonly ruleSet: RuleSet;
  /** The config's `name`, when it has one. */
  readonly domain: string | undefined;
  /** How many vifs the config's `vif` list has. */
  readonly vifs: number;
  /** The `vifname=`, `mac=`, `ip=` and `bridge=` of vif N in the config's `vif` list, when set (`show` works from these; a hotplug call from xenstore). */
  readonly vifname: string | undefined;
  readonly mac: string | undefined;
  readonly ip: string | undefined;
  readonly bridge: string | undefined;
  /** The guest's `firewall_antispoof`, when set: it overrides the hook's `antispoof` setting. */
  readonly antispoof: AntispoofLevel | undefined;
  /** Which key the rules came from (`firewall_vif1`, `firewall`), or undefined for the defaults. */
  readonly key: string | undefined;
  /** The lines the rule set was parsed from: the host's defaults, then the key's lines, each group expanded in place (each line with its origin). */
  readonly lines: readonly RuleLine[];
  readonly warnings: readonly string[];
}

/** The rules for one device: `firewall_vifN` replaces `firewall` for devid N; settings has the groups, defaults and named sets. */
export async function readGuestRules(file: string, devid: number, settings: Settings = DEFAULT_SETTINGS): Promise<GuestRules> {
  let text: string;
  try {
    text = await readConfigText(file, 'domain config');
  } catch (e) {
    if (e instanceof HookError) throw e;
    throw new HookError(`cannot read domain config ${file}: ${(e as Error).message}`);
  }
  return guestRulesOf(text, file, devid, settings);
}

/** settings gives the groups a rule may use and the host's defaults, which go first unless the guest opts out. */
export function guestRulesOf(text: string, file: string, devid: number, settings: Settings = DEFAULT_SETTINGS): GuestRules {
  const cfg = unwrap(parseXlConfig(text, file));
  const domain = unwrap(getString(cfg, 'name'))?.value;
  const vifList = unwrap(getStringList(cfg, 'vif')) ?? [];
  const spec = vifSpecOf(vifList[devid]?.value ?? '');
  const vifs = vifList.length;
  const [vifname, mac, ip, bridge] = [spec.get('vifname'), spec.get('mac'), spec.get('ip'), spec.get('bridge')];
  const antispoof = antispoofLevelOf(cfg, 'firewall_antispoof');
  const key = [`firewall_vif${devid}`, 'firewall'].find((k) => cfg.settings.has(k));
  if (key) return { ...keyRuleSet(cfg, key, settings), domain, vifs, vifname, mac, ip, bridge, antispoof, key, warnings: [] };
  const { ruleSet, lines } = keyRuleSet(cfg, undefined, settings);
  const defaults = ruleSet.rules.length > 0 ? "the host's firewall_default rules, then " : '';
  return {
    antispoof,
    ruleSet,
    domain,
    vifs,
    vifname,
    mac,
    ip,
    bridge,
    key: undefined,
    lines,
    warnings: [`${file} has no firewall key: ${defaults}the default policies apply (inbound dropped, outbound accepted)`],
  };
}

/** The rule set of one firewall key of the config (none: the host's defaults alone), as online reads it. */
export function keyRuleSet(cfg: XlConfig, key: string | undefined, settings: Settings): ExpandedRules {
  const own = key === undefined ? [] : (unwrap(getStringList(cfg, key)) ?? []);
  return unwrap(parseGuestRuleSet(own, settings.shared, defaultsWanted(cfg), settings.file ?? DEFAULT_SETTINGS_FILE, { sets: settings.sets }));
}

/** A guest's `firewall_default = "off"` keeps the host's defaults out of its rule set. */
function defaultsWanted(cfg: XlConfig): boolean {
  const v = unwrap(getString(cfg, 'firewall_default'));
  if (!v || v.value === 'on') return true;
  if (v.value === 'off') return false;
  throw new HookError(`firewall_default in a guest's config takes "off" (or "on"), not "${v.value}": the defaults themselves are set in the hook's settings`, v.at);
}

/** A vif spec of xl-network-configuration(5): `key=value` pairs separated by commas. */
function vifSpecOf(spec: string): Map<string, string> {
  return new Map(
    spec
      .split(',')
      .map((kv) => kv.trim())
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]),
  );
}

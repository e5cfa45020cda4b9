import { isAbsolute } from 'node:path';
import { HookError, type Where, unwrap } from '../errors.js';
import { SET_NAME_MAX } from '../compile/ipsets.js';
import { parseCidr } from '../rules/address.js';
import { getNumber, getString, getStringList } from '../xlconfig/access.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import type { XlConfig } from '../xlconfig/model.js';
import type { RuleGroup, SharedRules } from '../rules/groups.js';
import { readConfigText } from './configFile.js';
import { quote } from '../report/text.js';
import type { AntispoofLevel, Cidr } from '../rules/model.js';
import { antispoofLevelOf } from './antispoof.js';

/** The hook's own settings, from /etc/xen/vif-firewall.conf (xl syntax). */
export interface Settings {
  /** Where a domain's config is looked for by name, in order: <dir>/<name>.cfg, then <dir>/<name>. */
  readonly configDirs: readonly string[];
  readonly logFile: string;
  /** Records of what online installed; the lock is named after it. A tmpfs, so it dies with the rules at reboot. */
  readonly stateDir: string;
  /** ACCEPT allowed traffic of managed vifs (needed when FORWARD's policy is DROP, as Docker sets it). */
  readonly acceptAllowed: boolean;
  readonly lockTimeoutSeconds: number;
  readonly syslog: boolean;
  /** Anti-spoofing level of a guest whose config has no firewall_antispoof key. */
  readonly antispoof: AntispoofLevel;
  /** The named address sets (`set_admins = [ … ]` is `admins`), for `@admins` in rules. */
  readonly sets: ReadonlyMap<string, NamedSet>;
  /** The file these came from, when there was one. */
  readonly file: string | undefined;
  /** group_NAME lists and firewall_default. */
  readonly shared: SharedRules;
}

/** A named address set as vif-firewall.conf defines it. */
export interface NamedSet {
  readonly members: readonly Cidr[];
  /** Its key, for the warning when no rule uses it. */
  readonly at: Where;
}

export const DEFAULT_SETTINGS_FILE = '/etc/xen/vif-firewall.conf';

export const DEFAULT_SETTINGS: Settings = {
  configDirs: ['/etc/xen', '/etc/xen/auto'],
  logFile: '/var/log/xen/xen-hotplug.log',
  stateDir: '/run/vif-firewall',
  acceptAllowed: true,
  // libxl SIGKILLs the hook after 40 s; give up on the lock well before that, with a message.
  lockTimeoutSeconds: 25,
  syslog: true,
  antispoof: 'full',
  sets: new Map(),
  file: undefined,
  shared: { groups: new Map(), defaults: [] },
};

const KNOWN_KEYS = ['config_dirs', 'log_file', 'state_dir', 'accept_allowed', 'lock_timeout', 'syslog', 'antispoof', 'firewall_default', 'group_NAME', 'set_NAME'];
const GROUP_KEY = /^group_([._0-9a-z]+)$/;

/** VIF_FIREWALL_CONF names another file; a file named that way must exist, the default one may not. */
export async function readSettings(env: NodeJS.ProcessEnv): Promise<Settings> {
  const file = env.VIF_FIREWALL_CONF || DEFAULT_SETTINGS_FILE;
  let text: string;
  try {
    text = await readConfigText(file, 'settings');
  } catch (e) {
    if (e instanceof HookError) throw e;
    if (!env.VIF_FIREWALL_CONF && (e as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_SETTINGS;
    throw new HookError(`cannot read settings ${file}: ${(e as Error).message}`);
  }
  return parseSettings(text, file);
}

export function parseSettings(text: string, file: string): Settings {
  const cfg = unwrap(parseXlConfig(text, file));
  for (const [key, s] of cfg.settings)
    if (!KNOWN_KEYS.includes(key) && !key.startsWith(SET_KEY) && !GROUP_KEY.test(key))
      throw new HookError(`unknown setting "${key}" (known: ${KNOWN_KEYS.join(', ')})`, s.at);
  const flag = (key: string, dflt: boolean): boolean => {
    const n = unwrap(getNumber(cfg, key));
    if (!n) return dflt;
    if (n.value !== 0 && n.value !== 1) throw new HookError(`${key} must be 0 or 1`, n.at);
    return n.value === 1;
  };
  const dirs = unwrap(getStringList(cfg, 'config_dirs'));
  const timeout = unwrap(getNumber(cfg, 'lock_timeout'));
  if (timeout && !(timeout.value >= 1 && timeout.value <= 35))
    throw new HookError('lock_timeout must be between 1 and 35 seconds (libxl kills the hook at 40)', timeout.at);
  return {
    configDirs: dirs ? dirs.map((d) => d.value) : DEFAULT_SETTINGS.configDirs,
    logFile: absolutePath(cfg, 'log_file') ?? DEFAULT_SETTINGS.logFile,
    stateDir: absolutePath(cfg, 'state_dir') ?? DEFAULT_SETTINGS.stateDir,
    acceptAllowed: flag('accept_allowed', DEFAULT_SETTINGS.acceptAllowed),
    lockTimeoutSeconds: timeout?.value ?? DEFAULT_SETTINGS.lockTimeoutSeconds,
    syslog: flag('syslog', DEFAULT_SETTINGS.syslog),
    antispoof: antispoofLevelOf(cfg, 'antispoof') ?? DEFAULT_SETTINGS.antispoof,
    sets: namedSets(cfg),
    file,
    shared: sharedRulesOf(cfg),
  };
}

const SET_KEY = 'set_';

/** Every `set_NAME = [ "address or network", … ]`, each member checked where it is written. */
function namedSets(cfg: XlConfig): Map<string, NamedSet> {
  const sets = new Map<string, NamedSet>();
  for (const [key, setting] of cfg.settings) {
    if (!key.startsWith(SET_KEY)) continue;
    const name = key.slice(SET_KEY.length);
    // The name is part of the kernel set's, which ipset limits to 31 characters.
    if (!new RegExp(`^[a-z0-9_]{1,${SET_NAME_MAX}}$`).test(name)) {
      throw new HookError(`set name "${name}" must be 1-${SET_NAME_MAX} lower-case letters, digits or '_'`, setting.at);
    }
    const entries = unwrap(getStringList(cfg, key)) ?? [];
    const members = entries.map((e) => {
      const cidr = parseCidr(e.value);
      if (!cidr.ok) throw new HookError(`${cidr.error.message} (in set ${name})`, e.at);
      return cidr.value;
    });
    sets.set(name, { members, at: setting.at });
  }
  return sets;
}

/** The groups and defaults as lines; their rules are parsed where a guest uses them, with the guest's. */
function sharedRulesOf(cfg: XlConfig): SharedRules {
  const groups = new Map<string, RuleGroup>();
  for (const [key, s] of cfg.settings) {
    const name = GROUP_KEY.exec(key)?.[1];
    if (name) groups.set(name, { name, at: s.at, lines: unwrap(getStringList(cfg, key)) ?? [] });
  }
  return { groups, defaults: unwrap(getStringList(cfg, 'firewall_default')) ?? [] };
}

/**
 * A path the hook writes to must not depend on the caller's working directory: libxl runs
 * the hook from wherever xl was started, and calls from two directories would then take
 * two different locks and keep two sets of records.
 */
function absolutePath(cfg: XlConfig, key: string): string | undefined {
  const path = unwrap(getString(cfg, key));
  if (path && !isAbsolute(path.value)) throw new HookError(`${key} must be an absolute path, not ${quote(path.value)}`, path.at);
  return path?.value;
}

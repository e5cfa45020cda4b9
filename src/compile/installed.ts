import { DISPATCH, HOOKS, HOOK_CHAINS, TOP_CHAIN, deviceOfVifChain, isOurChain, type HookChain } from './names.js';

/** What the kernel's filter table holds of ours, for one address family, read from iptables-save. */
export interface Installed {
  /** Every chain of ours that exists. */
  readonly chains: ReadonlySet<string>;
  /** Rule specs (text after `-A <chain> `) of each builtin chain of HOOKS that jump to its chain of ours. */
  readonly jumps: Readonly<Record<HookChain, readonly string[]>>;
  /** Rule specs of each of our chains that is not a per-vif chain (TOP_CHAIN and the dispatch chains), by chain. */
  readonly dispatch: ReadonlyMap<string, readonly string[]>;
  /** Devices that have at least one per-vif chain. */
  readonly devices: ReadonlySet<string>;
}

/**
 * Reads the output of `iptables-save -t filter` (or a whole save: only *filter is
 * looked at). Rules of others are ignored, never interpreted.
 */
export function parseInstalled(saveText: string): Installed {
  const chains = new Set<string>();
  const devices = new Set<string>();
  const jumps: Record<HookChain, string[]> = { FORWARD: [], INPUT: [], OUTPUT: [] };
  const dispatch = new Map<string, string[]>();
  let inFilter = false;
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) {
      inFilter = line === '*filter';
      continue;
    }
    if (!inFilter) continue;
    if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (!isOurChain(chain)) continue;
      chains.add(chain);
      const vif = deviceOfVifChain(chain);
      if (vif) devices.add(vif.dev);
      continue;
    }
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const [, chain, spec] = m as unknown as [string, string, string];
    if (isHookChain(chain)) {
      if (jumpTarget(spec) === HOOKS[chain]) jumps[chain].push(spec);
    } else if (isOurChain(chain) && !deviceOfVifChain(chain)) {
      const list = dispatch.get(chain) ?? [];
      list.push(spec);
      dispatch.set(chain, list);
    }
  }
  return { chains, jumps, dispatch, devices };
}

function isHookChain(chain: string): chain is HookChain {
  return (HOOK_CHAINS as string[]).includes(chain);
}

/** Whether parseInstalled can use an iptables-save line: all others (every guest's own rules, most of a large table) can be dropped as they arrive. */
export function isInstalledLine(line: string): boolean {
  return /^(?:\*|:(?:VIF-FW|vif-fw-)|-A (?:FORWARD|INPUT|OUTPUT|VIF-FW) )/.test(line) || line.startsWith('-A VIF-FW-');
}

export function jumpTarget(spec: string): string | undefined {
  return /(?:^| )-[jg] (\S+)/.exec(spec)?.[1];
}

/** Value of an option in a rule spec, e.g. optionValue(spec, '--physdev-in'). */
export function optionValue(spec: string, option: string): string | undefined {
  const tokens = spec.split(' ');
  const i = tokens.indexOf(option);
  return i >= 0 ? tokens[i + 1] : undefined;
}

/** The dispatch rules that belong to one device, as [chain, spec] pairs. */
export function dispatchRulesOf(installed: Installed, dev: string): [string, string][] {
  const mine: [string, string][] = [];
  for (const [chain, specs] of installed.dispatch) {
    if (chain === TOP_CHAIN) continue;
    for (const spec of specs) {
      const target = jumpTarget(spec);
      const belongs =
        chain === DISPATCH.pass
          ? optionValue(spec, '--physdev-in') === dev || optionValue(spec, '--physdev-out') === dev
          : target !== undefined && deviceOfVifChain(target)?.dev === dev;
      if (belongs) mine.push([chain, spec]);
    }
  }
  return mine;
}

/** A rule of one of our per-vif chains as the kernel holds it, with its counters. */
export interface CountedRule {
  readonly spec: string;
  readonly packets: number;
  readonly bytes: number;
}

/** The per-vif chains' rules, in order, from `iptables-save -c -t filter` (counters optional). */
export function vifChainRules(saveText: string): Map<string, CountedRule[]> {
  const chains = new Map<string, CountedRule[]>();
  for (const line of saveText.split('\n')) {
    const decl = /^:(\S+) /.exec(line);
    if (decl && deviceOfVifChain(decl[1]!)) chains.set(decl[1]!, []);
    const m = /^(?:\[(\d+):(\d+)\] )?-A (\S+) (.*)$/.exec(line);
    if (m && deviceOfVifChain(m[3]!)) {
      const list = chains.get(m[3]!) ?? [];
      list.push({ spec: m[4]!, packets: Number(m[1] ?? 0), bytes: Number(m[2] ?? 0) });
      chains.set(m[3]!, list);
    }
  }
  return chains;
}

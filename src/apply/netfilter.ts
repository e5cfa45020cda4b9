import { BRIDGE_BASE_CHAIN, BRIDGE_TABLE, bridgeBaseIntact, isBridgeInstalledLine, parseBridgeInstalled, type BridgeInstalled } from '../compile/bridge.js';
import { isInstalledLine, parseInstalled, type Installed } from '../compile/installed.js';
import { HookError } from '../errors.js';
import type { Family } from '../rules/model.js';
import { oneLine, run, tryRun } from './exec.js';

const tool = (family: Family, what: 'save' | 'restore') => `${family === 4 ? 'iptables' : 'ip6tables'}-${what}`;

/** What the filter table holds of ours now. Call it under the hook's lock. */
export async function readInstalled(family: Family): Promise<Installed> {
  const r = await run(tool(family, 'save'), ['-t', 'filter'], { keepLines: isInstalledLine });
  return parseInstalled(r.stdout);
}

/** One atomic transaction; -w waits for the xtables lock instead of failing when another tool holds it. */
export async function restore(family: Family, text: string): Promise<void> {
  const r = await tryRun(tool(family, 'restore'), ['--noflush', '-w'], { input: text, changes: true });
  if (r.exitCode !== 0) {
    const what = r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode}`;
    throw new HookError(`${tool(family, 'restore')} refused the transaction: ${failedLine(what, text)}`);
  }
}

/** What our nft bridge table holds now (nothing when it does not exist). Call it under the hook's lock. */
export async function readBridgeInstalled(): Promise<BridgeInstalled> {
  return parseBridgeInstalled(await listBridge(['table', 'bridge', BRIDGE_TABLE]));
}

/** Whether our bridge table's base chain is as we make it (online reads it once it holds the lock, reload and repair while they wait for it). */
export async function readBridgeBaseIntact(): Promise<boolean> {
  return bridgeBaseIntact(await listBridge(['chain', 'bridge', BRIDGE_TABLE, BRIDGE_BASE_CHAIN]));
}

/** All of our bridge table as nft lists it, every device's checks included; undefined when it does not exist. */
export async function readBridgeListing(): Promise<string | undefined> {
  return listBridge(['table', 'bridge', BRIDGE_TABLE], false);
}

/** `nft list` of our table, or of one chain in it; undefined when it does not exist. onlyUsed: keep only the lines parseBridgeInstalled reads. */
async function listBridge(what: readonly string[], onlyUsed = true): Promise<string | undefined> {
  const args = ['list', ...what];
  const r = await tryRun('nft', args, onlyUsed ? { keepLines: isBridgeInstalledLine } : {});
  if (r.exitCode === 0) return r.stdout;
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new HookError(`nft ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/** One atomic nft transaction on our bridge table. */
export async function restoreBridge(text: string): Promise<void> {
  const r = await tryRun('nft', ['-f', '-'], { input: text, changes: true });
  if (r.exitCode !== 0) throw new HookError(`nft refused the transaction: ${oneLine(r.stderr || r.stdout) || `exit ${r.exitCode}`}`);
}

/** iptables-restore says only "line N failed": quote that line so the log shows what the kernel refused. */
function failedLine(message: string, text: string): string {
  const m = /line (\d+) failed/.exec(message);
  const line = m ? text.split('\n')[Number(m[1]) - 1] : undefined;
  return line ? `${message.trim()} (${line})` : message.trim();
}

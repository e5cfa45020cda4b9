import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HookError } from '../errors.js';
import { change } from './effects.js';
import { parseIfName, type IfName } from '../ifname.js';
import type { AntispoofLevel } from '../rules/model.js';
import type { RuleLine } from '../rules/parse.js';

/**
 * What `online` installed for one device, kept under the state dir (a tmpfs: it dies
 * with the host, like the rules). `offline` cleans up from this alone, because by then
 * xl destroy has removed the device and the config may have changed or gone.
 */
export interface VifRecord {
  /** libxl's name for the device: $vif (vifD.N) or, for an emulated NIC, $INTERFACE (vifD.N-emu). */
  readonly vif: string;
  /** The device name the rules match (differs from vif when the vif spec sets vifname=). */
  readonly dev: IfName;
  readonly domain: string;
  readonly domid: number;
  readonly devid: number;
  readonly bridge: string;
  /** The guest's addresses from xenstore `ip`, whose conntrack entries offline deletes. */
  readonly ip: readonly string[];
  /** The guest's MAC from xenstore `mac`, and the anti-spoofing level online installed for it. */
  readonly mac: string;
  readonly antispoof: AntispoofLevel;
  readonly configFile: string;
  readonly rules: number;
  readonly appliedAt: string;
  /**
   * The firewall list as installed, each line with its file:line:col (none: the config had no
   * firewall key). status compares the kernel and the config with it, repair reinstalls it.
   * Absent in records of older versions: the config stands in.
   */
  readonly source?: { readonly key: string | undefined; readonly lines: readonly RuleLine[] };
  /** The named sets (set_NAME) its rules use; absent in records of older versions: any may be. */
  readonly sets?: readonly string[];
  /** What the call that installed it warned of (no ip=, no firewall key, …), for status. */
  readonly warnings?: readonly string[];
}

const recordPath = (stateDir: string, vif: string) => join(stateDir, 'vifs', `${vif}.json`);

export async function writeRecord(stateDir: string, record: VifRecord): Promise<void> {
  const file = recordPath(stateDir, record.vif);
  await change(`write ${file}`, async () => {
    await mkdir(join(stateDir, 'vifs'), { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n');
    await rename(`${file}.tmp`, file);
  }, undefined);
}

export async function readRecord(stateDir: string, vif: string): Promise<VifRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(stateDir, vif), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const r = JSON.parse(text) as VifRecord;
    const dev = parseIfName(String(r.dev));
    if (!dev.ok) throw dev.error;
    return { ...r, dev: dev.value };
  } catch (e) {
    throw new HookError(`state file ${recordPath(stateDir, vif)} is damaged (${(e as Error).message}); remove it and run offline again`);
  }
}

export async function removeRecord(stateDir: string, vif: string): Promise<void> {
  const file = recordPath(stateDir, vif);
  await change(`remove ${file}`, () => rm(file, { force: true }), undefined);
}

/** Whether the vif has a record: online installed it, and no offline has removed it since. */
export function hasRecord(stateDir: string, vif: string): boolean {
  return existsSync(recordPath(stateDir, vif));
}

/** How many devices online has installed: a measure of how large the tables are. */
export async function countRecords(stateDir: string): Promise<number> {
  return (await recordedVifs(stateDir)).length;
}

/** Every record under the state dir, for status, reload and sweep. */
export async function listRecords(stateDir: string): Promise<VifRecord[]> {
  const records = await Promise.all((await recordedVifs(stateDir)).map((v) => readRecord(stateDir, v)));
  return records.filter((r): r is VifRecord => r !== undefined);
}

/** The vifs that have a record (none when the state dir does not exist yet). */
async function recordedVifs(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(join(stateDir, 'vifs'))).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
  } catch {
    return [];
  }
}

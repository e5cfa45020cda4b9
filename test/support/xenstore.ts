import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A file-backed fake xenstore for tests, shared with the fake command-line clients in
 * test/support/bin (xenstore-read, -write, -rm, -ls, -list, -exists: see the comment at
 * the top of test/support/bin/xenstore for the exact behaviour copied from Xen's tools).
 *
 * Layout under `root`: each node is a directory; its value is the file `.value` in it (a
 * node may have both a value and children; a directory without `.value` reads as "").
 * `root/.log` gets one line per client invocation (`read /abs/p …`, `write /abs/p=v …`,
 * `rm /abs/p …`, `ls …`, `list …`, `exists …`), always with absolute paths.
 *
 * Code under test finds the fake clients through PATH: run it with `env: xs.env()` (or
 * `{ ...xs.env(), ...vif.env }` for a hotplug call, see fillVifLikeLibxl).
 */

/** The directory holding the fake xenstore-* commands (put first on PATH by env()). */
export const XENSTORE_BIN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'bin');

const DOM0_HOME = '/local/domain/0';
const VALID = /^(\/[A-Za-z0-9_@-]+)+$/;

/** Absolute form of a xenstore path: relative paths are relative to dom0's home, like the real tools. */
export function canonicalXenstorePath(path: string): string {
  const abs = path.startsWith('/') ? path : `${DOM0_HOME}/${path}`;
  if (abs !== '/' && !VALID.test(abs)) throw new Error(`invalid xenstore path: ${JSON.stringify(path)}`);
  return abs;
}

export class FakeXenstore {
  readonly root: string;
  readonly binDir: string = XENSTORE_BIN_DIR;

  /** Uses (and creates if needed) `root` as the store. See also FakeXenstore.temp(). */
  constructor(root: string) {
    this.root = root.replace(/\/+$/, '') || '/';
    mkdirSync(this.root, { recursive: true });
  }

  /** A new store in a fresh temporary directory, with dom0's own entries (name, domid). Remove it with remove(). */
  static temp(): FakeXenstore {
    const xs = new FakeXenstore(mkdtempSync(join(tmpdir(), 'vfwt-xs-')));
    xs.write('/local/domain/0/name', 'Domain-0');
    xs.write('/local/domain/0/domid', '0');
    return xs;
  }

  private dir(path: string): string {
    const abs = canonicalXenstorePath(path);
    return abs === '/' ? this.root : this.root + abs;
  }

  /** The value, or undefined when the node does not exist ("" for a node without a value). */
  read(path: string): string | undefined {
    const d = this.dir(path);
    if (!existsSync(d)) return undefined;
    try {
      return readFileSync(join(d, '.value'), 'utf8');
    } catch {
      return '';
    }
  }

  exists(path: string): boolean {
    return existsSync(this.dir(path));
  }

  /** Writes a value, creating parents (atomic: temp file + rename, like the fake client). */
  write(path: string, value: string): void {
    const d = this.dir(path);
    mkdirSync(d, { recursive: true });
    const tmp = join(d, `.value.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`);
    writeFileSync(tmp, value);
    renameSync(tmp, join(d, '.value'));
  }

  /** Removes a node and its subtree; a missing node is not an error here. */
  rm(path: string): void {
    if (canonicalXenstorePath(path) === '/') throw new Error('refusing to remove the xenstore root');
    rmSync(this.dir(path), { recursive: true, force: true });
  }

  /** Child names (sorted), [] for a missing node. */
  list(path: string): string[] {
    const d = this.dir(path);
    if (!existsSync(d)) return [];
    return readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  /** Every node under `path` (not `path` itself) as absolute path → value, depth first, sorted. */
  dump(path = '/'): Record<string, string> {
    const out: Record<string, string> = {};
    const base = canonicalXenstorePath(path);
    const walk = (p: string): void => {
      for (const name of this.list(p)) {
        const child = p === '/' ? `/${name}` : `${p}/${name}`;
        out[child] = this.read(child) ?? '';
        walk(child);
      }
    };
    walk(base);
    return out;
  }

  /** The client invocations logged so far, one string each (`read /abs/p`, `write /abs/p=v`, `rm /abs/p` …). */
  log(): string[] {
    try {
      return readFileSync(join(this.root, '.log'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  clearLog(): void {
    rmSync(join(this.root, '.log'), { force: true });
  }

  /** Environment for code under test: XENSTORE_ROOT, and PATH with the fake clients first (and the sbin dirs present). */
  env(): Record<string, string> {
    const rest = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).filter((p) => p && p !== this.binDir);
    for (const sbin of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!rest.includes(sbin)) rest.push(sbin);
    return { XENSTORE_ROOT: this.root, PATH: [this.binDir, ...rest].join(delimiter) };
  }

  /** Deletes the whole store directory (for stores made by temp()). */
  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface VifSpec {
  domid: number;
  devid: number;
  /** The domain's name (/local/domain/D/name). */
  name: string;
  mac: string;
  /** Space-separated addresses, as libxl writes the vif's `ip=` setting. */
  ip?: string;
  bridge?: string;
  mtu?: number;
  vifname?: string;
  /** As libxl writes it: the full path, e.g. /etc/xen/scripts/vif-firewall. */
  script: string;
  /** Backend `type`: 'vif' (PV, default) or 'vif_ioemu' (HVM NIC with an emulated twin). */
  type?: 'vif' | 'vif_ioemu';
  /** /vm/<uuid>; random when absent. */
  uuid?: string;
  /** Backend `gatewaydev`, which libxl passes as env `netdev`. */
  gatewaydev?: string;
}

export interface FilledVif {
  /** /local/domain/0/backend/vif/D/N */
  backendPath: string;
  /** /local/domain/D/device/vif/N */
  frontendPath: string;
  /** backend/vif/D/N: XENBUS_PATH as libxl passes it (relative). */
  xenbusPath: string;
  /** vifD.N: the netback device name at hotplug time (libxl's `vif` env; a vifname is applied by the script). */
  dev: string;
  /** vifD.N-emu: the emulated NIC's tap name (libxl's INTERFACE for type_if=tap). */
  tapDev: string;
  uuid: string;
  /** Env of `<script> online|offline type_if=vif`, exactly as libxl's get_hotplug_env builds it (merge with xs.env()). */
  env: Record<string, string>;
  /** Env of `<script> add|remove type_if=tap` for an HVM emulated NIC (libxl adds INTERFACE). */
  tapEnv: Record<string, string>;
}

/**
 * Writes what libxl has written when it runs the vif's hotplug script with `online`
 * (observed on Xen 4.17), and returns the paths and the hotplug environment.
 */
export function fillVifLikeLibxl(xs: FakeXenstore, spec: VifSpec): FilledVif {
  const { domid: d, devid: n } = spec;
  const backendPath = `/local/domain/0/backend/vif/${d}/${n}`;
  const frontendPath = `/local/domain/${d}/device/vif/${n}`;
  const uuid = spec.uuid ?? randomUUID();
  const type = spec.type ?? 'vif';
  const be: Record<string, string> = {
    bridge: spec.bridge ?? 'xenbr0',
    frontend: frontendPath,
    'frontend-id': String(d),
    handle: String(n),
    'hotplug-status': '',
    mac: spec.mac,
    online: '1',
    script: spec.script,
    state: '2',
    type,
  };
  if (spec.ip !== undefined) be.ip = spec.ip;
  if (spec.vifname !== undefined) be.vifname = spec.vifname;
  if (spec.mtu !== undefined) be.mtu = String(spec.mtu);
  if (spec.gatewaydev !== undefined) be.gatewaydev = spec.gatewaydev;
  for (const [k, v] of Object.entries(be)) xs.write(`${backendPath}/${k}`, v);

  xs.write(`/local/domain/${d}/name`, spec.name);
  xs.write(`/local/domain/${d}/vm`, `/vm/${uuid}`);
  xs.write(`/vm/${uuid}/name`, spec.name);

  const fe: Record<string, string> = { backend: backendPath, 'backend-id': '0', handle: String(n), mac: spec.mac, state: '1' };
  for (const [k, v] of Object.entries(fe)) xs.write(`${frontendPath}/${k}`, v);

  const xenbusPath = `backend/vif/${d}/${n}`;
  const dev = `vif${d}.${n}`;
  const tapDev = `${dev}-emu`;
  const env: Record<string, string> = {
    script: spec.script,
    XENBUS_TYPE: 'vif',
    XENBUS_PATH: xenbusPath,
    XENBUS_BASE_PATH: 'backend',
    netdev: spec.gatewaydev ?? '',
  };
  // libxl sets INTERFACE for every call on a vif_ioemu NIC (it can't tell which script runs).
  if (type === 'vif_ioemu') env.INTERFACE = tapDev;
  env.vif = dev;
  return {
    backendPath,
    frontendPath,
    xenbusPath,
    dev,
    tapDev,
    uuid,
    env,
    tapEnv: { ...env, INTERFACE: tapDev },
  };
}

/**
 * What libxl has done by the time it runs `offline` (xl destroy): the frontend directory
 * is gone, the backend says online=0 and state=6 (Closed), hotplug-status is removed.
 */
export function prepareOfflineLikeLibxl(xs: FakeXenstore, domid: number, devid: number): void {
  const backendPath = `/local/domain/0/backend/vif/${domid}/${devid}`;
  xs.rm(`/local/domain/${domid}/device/vif/${devid}`);
  xs.write(`${backendPath}/online`, '0');
  xs.write(`${backendPath}/state`, '6');
  xs.rm(`${backendPath}/hotplug-status`);
}

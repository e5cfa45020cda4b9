// The entry of dist/vif-firewall. scripts/bundle.mjs puts the hook's own bundle in front of this
// code, as the comment that is the body of function PAYLOAD (`*/` written `*\x01/`), and this
// code runs it through a V8 code cache: compiling the ~370 KB bundle costs ~10 ms of every run,
// loading its code cache ~1 ms. The cache is a file in the hook's default state dir (a
// root-owned tmpfs: gone at reboot, written again by the first run after it) or in
// $VIF_FIREWALL_CODE_CACHE (empty: no cache). Anything wrong with the cache (missing,
// unreadable, owned by another user, made by another node or from another bundle, dir not
// writable) only means a normal compile: the cache never changes what the hook does, its output
// or its exit code.
import { closeSync, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { Script } from 'node:vm';

/** Its body is the bundle; PAYLOAD_LINE is where that starts in this file (0-based), so stack traces and --cpu-prof lines point into this file. */
declare function PAYLOAD(): void;
declare const PAYLOAD_LINE: number;
/** sha256 of the bundle (16 hex digits), from the build. V8 checks a cache against the length of the source only. */
declare const PAYLOAD_HASH: string;

// The cache holds what the run that wrote it compiled: a --version leaves out what online needs
// (~10 ms of lazy compiling). Its first byte says which hotplug paths ran into it; a run of a
// path not yet in it writes it again, with what it loaded plus what it compiled. So after a
// boot, the first online and the first offline each write it once.
const PATHS = new Map([['online', 1], ['add', 1], ['offline', 2], ['remove', 2]]);
const path = PATHS.get(process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '') ?? 0;

const dir = process.env.VIF_FIREWALL_CODE_CACHE ?? '/run/vif-firewall';
let file: string | undefined;
let paths = 0;
let cachedData: Buffer | undefined;
if (dir) {
  try {
    // The file's mtime too: a hand-edited hook of the same length must not meet the old cache.
    const self = statSync(__filename);
    file = `${dir}/code-cache-${PAYLOAD_HASH}-${Math.trunc(self.mtimeMs)}-${process.version}-${process.arch}`;
    const data = readTrusted(file);
    if (data && data.length > 1) {
      paths = data[0]!;
      cachedData = data.subarray(1);
    }
  } catch {
    // no cache
  }
}

// The text of the function is the text of the file: `function PAYLOAD() {/*\n` + bundle + `*/}`.
const text = PAYLOAD.toString();
const bundle = text.slice(text.indexOf('\n') + 1, -3).replaceAll('*\x01/', '*/');
// CommonJS's own wrapper, on a line of its own: the bundle runs as the module it was built as.
const script = new Script(`(function (exports, require, module, __filename, __dirname) {\n${bundle}\n})`, {
  filename: __filename,
  lineOffset: PAYLOAD_LINE - 1,
  cachedData,
});
if (script.cachedDataRejected) paths = 0;
if (file && (!cachedData || script.cachedDataRejected || (paths & path) !== path))
  process.once('exit', () => writeCache(file!, script, paths | path));
(script.runInThisContext() as Function).call(exports, exports, require, module, __filename, __dirname);

/** Bytecode runs as it is: only a file that this user or root wrote, and that no one else can, is read. */
function readTrusted(name: string): Buffer | undefined {
  const fd = openSync(name, 'r');
  try {
    const st = fstatSync(fd);
    if ((st.uid !== 0 && st.uid !== process.geteuid?.()) || (st.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * At exit, so the cache also holds the functions this run compiled lazily. The temp file is
 * opened before the (costly) serialization, so a dir this user cannot write costs nothing;
 * rename makes concurrent hooks see a whole cache or none.
 */
function writeCache(target: string, s: Script, tag: number): void {
  const tmp = `${target}.${process.pid}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch {
    return;
  }
  try {
    const data = Buffer.concat([Buffer.of(tag), s.createCachedData()]);
    if (writeSync(fd, data) !== data.length) throw new Error('short write');
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, target);
  } catch {
    try {
      if (fd !== undefined) closeSync(fd);
      unlinkSync(tmp);
    } catch {
      // nothing more to do
    }
  }
}

import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { HookError } from '../errors.js';

/**
 * Largest config or settings file read, in bytes. Real ones are a few KB; the limit keeps a
 * mistaken or hostile file from costing unbounded time and memory on a guest's start path.
 */
export const CONFIG_MAX_BYTES = 1024 * 1024;

/**
 * The text of a config file, read only if it is a regular file (or /dev/null) of at most CONFIG_MAX_BYTES.
 * O_NONBLOCK makes opening a named pipe return at once (a blocking open would wait for a
 * writer forever, with libxl waiting on us); fstat of what was opened then refuses it.
 * A failure to open is thrown as it comes (callers tell ENOENT apart); a refusal is a HookError.
 */
export async function readConfigText(file: string, what: string): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stat = await handle.stat();
    if (!stat.isFile() && !isNullDevice(stat)) throw new HookError(`${what} ${file} is not a regular file (${kindOf(stat)}): refusing to read it`);
    // Room for one byte past the limit, so a file that grew after fstat is caught too.
    const buffer = Buffer.allocUnsafe(CONFIG_MAX_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0 || (length += bytesRead) === buffer.length) break;
    }
    if (length > CONFIG_MAX_BYTES)
      throw new HookError(`${what} ${file} is larger than ${CONFIG_MAX_BYTES} bytes (1 MiB): refusing to read it`);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** /dev/null (major 1, minor 3): the usual way to say "an empty file", e.g. VIF_FIREWALL_CONF=/dev/null for the defaults. */
function isNullDevice(stat: Stats): boolean {
  return stat.isCharacterDevice() && stat.rdev === ((1 << 8) | 3);
}

function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'a named pipe';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a file';
}

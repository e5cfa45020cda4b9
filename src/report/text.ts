/*
 * Text from configs, xenstore and the environment ends up in messages that go to stderr,
 * xenstore hotplug-error and the hotplug log. Whatever it holds, a message must stay one
 * line (so nobody can forge or split a log line), carry no NUL (xenstore-write rejects it)
 * and fit where it goes (xenstore rejects values over 4096 bytes).
 */

/** Longest message written anywhere, in bytes: under xenstore's 4096-byte value limit, with room for a prefix. */
export const MESSAGE_MAX_BYTES = 3900;

/** Longest quoted value inside a message, in bytes: enough to recognise it, too short to drown the message. */
const QUOTED_MAX_BYTES = 200;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** C0 and C1 control characters (NUL, newline, escape …) and DEL as visible escapes: `\n`, `\x00`. */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A value inside a message: escaped, in double quotes, cut when long. */
export function quote(value: string): string {
  return `"${escapedCut(value, QUOTED_MAX_BYTES)}"`;
}

/** A message as it may be shown and stored: one line, no NUL, bounded. */
export function oneLine(message: string, max = MESSAGE_MAX_BYTES): string {
  return escapedCut(message, max);
}

/**
 * Escaped, then cut to max bytes. Only as much as can show is escaped (no character
 * escapes to less than one byte), so a megabyte of input costs no more than a line.
 */
function escapedCut(text: string, max: number): string {
  if (text.length <= max) return cutBytes(escapeControls(text), max);
  return cutBytes(escapeControls(text.slice(0, max)), max, Buffer.byteLength(text));
}

/** text cut to at most max bytes of UTF-8, saying how much (of all bytes) was cut; never splits a character. */
export function cutBytes(text: string, max: number, all?: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max && all === undefined) return text;
  const note = `… (${all ?? bytes.length} bytes, cut)`;
  const keep = Math.max(0, max - Buffer.byteLength(note));
  // A character split at the cut decodes to U+FFFD: drop it.
  return bytes.subarray(0, keep).toString('utf8').replace(/\uFFFD$/, '') + note;
}

import { readFileSync } from 'node:fs';
import { type HookError, type Where, errorsOf, formatWhere } from '../errors.js';
import { oneLine } from './text.js';

/** The text of a file by name, or undefined when it cannot be read (then no source line is shown). */
export type Sources = (file: string) => string | undefined;

/**
 * Each error as a compiler prints it: `file:line:col: error: message`, then the source line
 * and a caret under the column. An error without a place is just `error: message`.
 */
export function renderDiagnostics(error: HookError, sources: Sources): string[] {
  return errorsOf(error).flatMap((e) => renderDiagnostic('error', e.message, e.where, sources));
}

export function renderDiagnostic(severity: 'error' | 'warning', message: string, where: Where | undefined, sources: Sources): string[] {
  if (!where) return [`${severity}: ${oneLine(message)}`];
  const head = `${formatWhere(where)}: ${severity}: ${oneLine(message)}`;
  const line = sources(where.file)?.split(/\r?\n/)[where.line - 1];
  if (line === undefined) return [head];
  // Columns count characters: a surrogate pair is one.
  const chars = [...line];
  // A long line is shown around the column only, so that the caret stays on screen.
  const from = Math.max(0, where.col - 1 - WINDOW);
  const to = Math.min(chars.length, where.col - 1 + WINDOW);
  const cut = [...(from > 0 ? ['…'] : []), ...chars.slice(from, to), ...(to < chars.length ? ['…'] : [])];
  // Control characters would move the terminal's cursor; one stand-in each keeps the caret's column.
  const shown = cut.map((c) => (c !== '\t' && /[\x00-\x1f\x7f-\x9f]/.test(c) ? '\ufffd' : c));
  // Tabs are kept so the caret lines up however wide the terminal draws them.
  const pad = shown.slice(0, where.col - 1 - from + (from > 0 ? 1 : 0)).map((c) => (c === '\t' ? '\t' : ' ')).join('');
  return [head, `  ${shown.join('')}`, `  ${pad}^`];
}

/** Characters shown either side of the column of a long line. */
const WINDOW = 100;

/** Reads each file once; the shell's side of renderDiagnostics. */
export function fileSources(): Sources {
  const cache = new Map<string, string | undefined>();
  return (file) => {
    if (!cache.has(file)) {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        text = undefined;
      }
      cache.set(file, text);
    }
    return cache.get(file);
  };
}

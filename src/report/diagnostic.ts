import { readFileSync } from 'node:fs';
import { type HookError, type Where, errorsOf, formatWhere } from '../errors.js';

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
  if (!where) return [`${severity}: ${message}`];
  const head = `${formatWhere(where)}: ${severity}: ${message}`;
  const line = sources(where.file)?.split(/\r?\n/)[where.line - 1];
  if (line === undefined) return [head];
  // Control characters would move the terminal's cursor; one stand-in each keeps the caret's column.
  const shown = line.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '\ufffd');
  // Tabs are kept so the caret lines up however wide the terminal draws them.
  const pad = [...shown.slice(0, where.col - 1)].map((c) => (c === '\t' ? '\t' : ' ')).join('');
  return [head, `  ${shown}`, `  ${pad}^`];
}

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

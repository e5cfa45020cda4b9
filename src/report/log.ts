import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { effects } from '../apply/effects.js';
import { oneLine } from './text.js';

export type Level = 'info' | 'warning' | 'err';

/**
 * Appends to the log the stock scripts use (/var/log/xen/xen-hotplug.log) and to syslog
 * through logger(1) with the daemon facility, as xen-hotplug-common.sh does. Logging
 * never fails a hotplug call: a guest must not fail to start because /var/log is full.
 */
export class HookLog {
  constructor(
    private readonly file: string,
    private readonly syslog: boolean,
    private readonly context: string,
  ) {}

  write(level: Level, message: string): void {
    if (effects().dryRun) return;
    // Input (a domain name, a vifname) can never start a line of its own or make one unbounded.
    const text = oneLine(`${this.context}: ${message}`);
    const line = `${new Date().toISOString()} vif-firewall[${process.pid}] ${level}: ${text}\n`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      appendFileSync(this.file, line);
    } catch {
      // Nowhere better to say it; stderr already carries errors.
    }
    if (this.syslog) toSyslog(level, text);
  }
}

/** Fire and forget: the hook does not wait for logger, it is not on the guest's start path. */
function toSyslog(level: Level, message: string): void {
  // reject: false, so a host without logger(1) is not an error.
  execa('logger', ['-p', `daemon.${level}`, '-t', 'vif-firewall', '--', message], {
    stdio: 'ignore',
    detached: true,
    reject: false,
  }).unref();
}

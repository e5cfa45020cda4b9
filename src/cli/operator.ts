import { checkCommand } from './check.js';
import type { Command } from './command.js';
import { reloadCommand } from './reload.js';
import { repairCommand } from './repair.js';
import { showCommand } from './show.js';
import { simulateCommand } from './simulate.js';
import { statusCommand } from './status.js';
import { sweepCommand } from './sweep.js';

/** The commands an admin runs by hand, next to the hotplug calls libxl makes. */
export const operatorCommands: readonly Command[] = [showCommand, simulateCommand, statusCommand, reloadCommand, repairCommand, sweepCommand, checkCommand];

import { getPriority, setPriority } from 'node:os';

/** How much a call that queues for the lock raises its CPU priority (nice −10, from its own). */
const BOOST = 10;

/**
 * Raises this process's CPU priority, for a call that has reached the lock; returns what puts it
 * back. In a boot storm the calls serialise on the lock, so the storm drains as fast as the
 * holder's transactions run, while every call still starting (node itself, the config, the
 * compile) competes with them for the CPUs. A waiter uses no CPU, so raising it costs nothing
 * until its turn, and then its transactions (children inherit the priority) are not starved by
 * calls that can wait. On an idle host the priority changes nothing. Raising it needs
 * CAP_SYS_NICE, which a hotplug call (root) has; without it nothing changes.
 */
export function boostPriority(): () => void {
  let own: number;
  try {
    own = getPriority();
    setPriority(Math.max(-20, own - BOOST));
  } catch {
    return () => undefined;
  }
  return () => {
    try {
      setPriority(own);
    } catch {
      // A lower priority is always allowed; nothing to do if the process is going anyway.
    }
  };
}

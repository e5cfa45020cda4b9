import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Peer } from './netns.js';

/** Crafts and sniffs frames with scapy (see frames.py for the kinds it knows). */
export const FRAMES = resolve('test/support/frames.py');

/**
 * Which frames of the given kinds reach `receiver` while `sender` sends them; `addr` is the
 * address frames.py takes (default the sender's IPv4: the IPv4 source of a dhcp-offer, the target of an ns or na). With
 * `only`, just those kinds are reported, else frames.py's default four. Sorted.
 */
export async function framesArriving(
  receiver: Peer,
  sender: Peer,
  kinds: readonly string[],
  addr = sender.ipv4,
  only?: readonly string[],
): Promise<string[]> {
  // Listens until the frames are sent, however long a loaded machine takes to start scapy; stopped here.
  const sniffer = receiver.exec('/usr/bin/python3', [FRAMES, 'sniff', 'eth0', '120', ...(only ? [only.join(',')] : [])], { reject: false, stdin: 'ignore' });
  await new Promise<void>((ready) => sniffer.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && ready()));
  await sleep(300); // scapy opens its socket just after saying so
  await sender.exec('/usr/bin/python3', [FRAMES, 'send', 'eth0', kinds.join(','), addr]);
  await sleep(500); // the last frames on their way
  sniffer.kill('SIGKILL');
  return String((await sniffer).stdout).split('\n').filter((l) => l && l !== 'ready').sort();
}

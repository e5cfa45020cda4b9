// Preloaded into the hook (NODE_OPTIONS=--require …) on the bench's RSS runs only, never on
// the timed ones: at exit, appends "<pid> <peak RSS in KiB>" (getrusage's ru_maxrss of the
// hook's own process, what /usr/bin/time -f %M reports for it) to $BENCH_RSS_FILE.
'use strict';
const file = process.env.BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    try {
      require('node:fs').appendFileSync(file, `${process.pid} ${process.resourceUsage().maxRSS}\n`);
    } catch {
      /* the measurement is lost, the call is not */
    }
  });
}

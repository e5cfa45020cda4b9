// The bench's stopwatch inside the simulated dom0. Started once per dom0 with
// `ip netns exec <dom0> node runner.mjs`, so that every timed command is a direct child
// of a process that already lives in the dom0's network namespace — as a hotplug script
// is a direct child of libxl — and no `ip netns exec` (a mount namespace and a /sys
// remount per call) is inside the measurement.
//
// Protocol: one JSON request per line on stdin, one JSON answer per line on stdout.
//   { id, jobs: [Job…], parallel?: boolean }
//   → { id, wallMs, results: [{ ms, code, signal, stdout, stderr }…] }
// Job = { cmd, args?, env?, input?, timeoutMs? }. Sequential jobs run one after the other
// (all of them, whatever their exit codes); parallel jobs are all spawned at once and
// wallMs is from the first spawn to the last exit. `ms` is from spawn() to the child's
// exit (what libxl waits for: SIGCHLD), not to the closing of its pipes.
// Only node's own modules: it runs from the source tree as it is.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const KEEP = 8000; // characters of each stream kept in an answer

function runJob(job) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let stdout = '';
    let stderr = '';
    let exit;
    let child;
    try {
      child = spawn(job.cmd, job.args ?? [], {
        env: job.env ?? process.env,
        stdio: [job.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      resolve({ ms: 0, code: -1, signal: null, stdout: '', stderr: String(e) });
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), job.timeoutMs ?? 60_000);
    child.stdout.on('data', (d) => {
      if (stdout.length < 4 * KEEP * 1024) stdout += d;
    });
    child.stderr.on('data', (d) => {
      if (stderr.length < KEEP) stderr += d;
    });
    child.on('exit', (code, signal) => {
      exit = { ms: Number(process.hrtime.bigint() - t0) / 1e6, code: code ?? -1, signal };
    });
    child.on('error', (e) => {
      exit ??= { ms: Number(process.hrtime.bigint() - t0) / 1e6, code: -1, signal: null };
      stderr += String(e);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ ...exit, stdout, stderr: stderr.slice(-KEEP) });
    });
    if (job.input !== undefined) {
      child.stdin.on('error', () => {});
      child.stdin.end(job.input);
    }
  });
}

async function handle(req) {
  const t0 = process.hrtime.bigint();
  let results;
  if (req.parallel) {
    results = await Promise.all(req.jobs.map(runJob));
  } else {
    results = [];
    for (const job of req.jobs) results.push(await runJob(job));
  }
  return { id: req.id, wallMs: Number(process.hrtime.bigint() - t0) / 1e6, results };
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  handle(req).then(
    (answer) => process.stdout.write(`${JSON.stringify(answer)}\n`),
    (e) => process.stdout.write(`${JSON.stringify({ id: req.id, error: String(e) })}\n`),
  );
});
// The bench closes our stdin when it is done (or dies): then exit.
lines.on('close', () => process.exit(0));
process.stdout.write('{"ready":true}\n');

/**
 * Daemons that fork a process per connection (sshd, pure-ftpd) move those children into their own
 * session or process group, so killing the daemon's process group leaves live connections behind.
 * stop()/restart() must drop them too (a restart is how the suites test stale connections), so
 * the launchers kill the daemon's whole process tree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isAlive, killProcessGroup, sleep } from '../../util.js';

/** Every live descendant of `pid` (children, their children, …), from /proc. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue;
      const ppid = Number(rest[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {}
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Kills the process group `pgid` (leader = the daemon) and every descendant of the daemon. */
export async function killProcessTree(pgid: number, timeoutMs = 10_000): Promise<void> {
  const tree = descendantsOf(pgid);
  await killProcessGroup(pgid, timeoutMs);
  const signal = (sig: NodeJS.Signals) => {
    for (const p of tree) {
      try {
        process.kill(p, sig);
      } catch {}
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + 5000;
  while (tree.some(isAlive) && Date.now() < deadline) await sleep(100);
  signal('SIGKILL');
}

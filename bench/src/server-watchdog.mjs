// node server-watchdog.mjs <bench pid> <server process group>…
// Started by run.mjs beside the servers it launches, in a process group of its own (a Ctrl-C does
// not reach it). When the bench process is gone without having stopped its servers — killed before
// its own SIGINT/SIGTERM handler finished (tsx, which runs the bench, sends SIGKILL to a child that
// does not acknowledge a signal within 30 ms, as happens on a loaded machine) — it stops them:
// SIGTERM to each server's process group, SIGKILL 5 s later. It exits once the bench is gone.
const [bench, ...groups] = process.argv.slice(2).map(Number);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};
const signal = (group, name) => {
  try {
    process.kill(-group, name);
  } catch {}
};

const timer = setInterval(() => {
  if (alive(bench)) return;
  clearInterval(timer);
  const left = groups.filter(alive);
  if (left.length === 0) return;
  process.stderr.write(
    `bench (pid ${bench}) ended without stopping its servers: stopping process groups ${left.join(' ')}\n`,
  );
  for (const group of left) signal(group, 'SIGTERM');
  setTimeout(() => {
    for (const group of left) if (alive(group)) signal(group, 'SIGKILL');
  }, 5_000);
}, 250);

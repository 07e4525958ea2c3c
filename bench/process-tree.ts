/**
 * CPU time of a process and all its descendants, from /proc (Linux). Used by the benchmarks to
 * charge a proxy with everything it runs: Airlock with its stdio upstream, mcp-proxy with its
 * child. Descendants are found by scanning every /proc/<pid>/stat for its parent id (the kernel's
 * per-task `children` file is not always built in).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ; 100 nearly everywhere). */
const ticksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  ppid: number;
  cpuMs: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1_000) / ticksPerSecond }; // utime + stime
  } catch {
    return undefined; // the process ended between listing and reading
  }
}

/** CPU ms used so far by `root` and each live descendant, by pid. */
export function treeCpuMs(root: number): Map<number, number> {
  const stats = new Map<number, Stat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  const cpu = new Map<number, number>();
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number; // length checked by the loop condition
    const stat = stats.get(pid);
    if (!stat) continue;
    cpu.set(pid, stat.cpuMs);
    for (const [child, childStat] of stats) if (childStat.ppid === pid) pending.push(child);
  }
  return cpu;
}

/** CPU ms used between two readings of the same tree: total, and the root process alone. A process that appeared in between counts from zero. */
export function cpuBetween(root: number, before: Map<number, number>, after: Map<number, number>): { treeMs: number; rootMs: number } {
  let treeMs = 0;
  for (const [pid, ms] of after) treeMs += ms - (before.get(pid) ?? 0);
  return { treeMs, rootMs: (after.get(root) ?? 0) - (before.get(root) ?? 0) };
}

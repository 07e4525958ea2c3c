/**
 * The report of bench:proxy: one markdown table of latency, throughput and CPU per call for every
 * path and concurrency, then the relay issue's performance targets, each met or not, from the
 * same run.
 */

export type TargetName = 'direct' | 'airlock-stdio' | 'airlock-http' | 'mcp-proxy';

export interface Measurement {
  concurrency: number;
  target: TargetName;
  p50Ms: number;
  p99Ms: number;
  callsPerSec: number;
  /** Failed calls, summed over the rounds. */
  errors: number;
  /** CPU ms per call of the path's process tree: the server or proxy and its children. */
  treeCpuMsPerCall: number;
  /** CPU ms per call of the tree's root process alone (the gateway without its stdio child). */
  rootCpuMsPerCall: number;
  /** CPU ms per call of processes outside the tree the path keeps busy (Redis, an HTTP upstream). */
  outsideCpuMsPerCall: number;
}

const trees: Record<TargetName, { tree: string; outside: string }> = {
  direct: { tree: 'mock', outside: '—' },
  'airlock-stdio': { tree: 'gateway + mock child', outside: 'redis' },
  'airlock-http': { tree: 'gateway', outside: 'mock (HTTP upstream) + redis' },
  'mcp-proxy': { tree: 'mcp-proxy + mock child', outside: '—' },
};

/** Targets from the relay issue. */
const maxAddedP50Ms = 0.5;
const maxGatewayCpuMsPerCall = 0.4;

/** Prints the table and the targets to stdout. */
export function reportProxyBench(measurements: Measurement[], run: { seconds: number; rounds: number }): void {
  const find = (target: TargetName, concurrency: number) => {
    const found = measurements.find((m) => m.target === target && m.concurrency === concurrency);
    if (!found) throw new Error(`no measurement for ${target} at c=${concurrency}`);
    return found;
  };
  const lines = [
    '| c | target | p50 ms | p99 ms | calls/s | × direct | CPU ms/call, tree | tree | of which root process | outside the tree, ms/call | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const m of measurements) {
    const direct = find('direct', m.concurrency);
    const isProxy = m.target !== 'direct';
    lines.push(
      `| ${m.concurrency} | ${m.target} | ${m.p50Ms.toFixed(2)} | ${m.p99Ms.toFixed(2)} | ${m.callsPerSec.toFixed(0)} | ${(m.callsPerSec / direct.callsPerSec).toFixed(2)} | ` +
        `${m.treeCpuMsPerCall.toFixed(3)} | ${trees[m.target].tree} | ${isProxy ? m.rootCpuMsPerCall.toFixed(3) : '—'} | ` +
        `${m.target === 'direct' || m.target === 'mcp-proxy' ? '—' : `${m.outsideCpuMsPerCall.toFixed(3)} (${trees[m.target].outside})`} | ${m.errors} |`,
    );
  }

  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const measured = (target: TargetName) => measurements.some((m) => m.target === target);
  // With --only, a target is checked only when the paths it compares were measured.
  const airlocks = (['airlock-stdio', 'airlock-http'] as const).filter(measured);
  const targets: string[] = [];
  if (measured('mcp-proxy')) {
    const proxy32 = find('mcp-proxy', 32);
    for (const airlock of airlocks) {
      const a = find(airlock, 32);
      targets.push(
        `- ${airlock}: calls/s at c=32 ${a.callsPerSec.toFixed(0)} vs mcp-proxy ${proxy32.callsPerSec.toFixed(0)} (target: at least mcp-proxy's): ${verdict(a.callsPerSec >= proxy32.callsPerSec)}`,
      );
    }
  }
  for (const airlock of airlocks) {
    const added = find(airlock, 1).p50Ms - find('direct', 1).p50Ms;
    targets.push(`- ${airlock}: added p50 at c=1 ${added.toFixed(2)} ms over direct (target: at most ${maxAddedP50Ms} ms): ${verdict(added <= maxAddedP50Ms)}`);
  }
  for (const airlock of airlocks) {
    const perCall = [1, 32].map((c) => find(airlock, c).rootCpuMsPerCall);
    targets.push(
      `- ${airlock}: gateway process CPU per allowed call ${perCall.map((ms, i) => `${ms.toFixed(3)} ms at c=${i === 0 ? 1 : 32}`).join(', ')} ` +
        `(target: at most ${maxGatewayCpuMsPerCall} ms): ${verdict(perCall.every((ms) => ms <= maxGatewayCpuMsPerCall))}`,
    );
  }
  const errors = measurements.reduce((sum, m) => sum + m.errors, 0);
  process.stdout.write(
    `\n${lines.join('\n')}\n\n(median of ${run.rounds} rounds of ${run.seconds} s per path and concurrency; CPU is user + system time from /proc)\n\n` +
      `Targets (relay issue), this run:\n${targets.join('\n')}\n${errors > 0 ? `\nWARNING: ${errors} calls failed; their paths' figures are suspect.\n` : ''}`,
  );
}

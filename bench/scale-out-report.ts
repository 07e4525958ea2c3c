/**
 * bench:scale-out's report: Markdown tables in the shape BENCHMARKS.md quotes them, and the
 * on-paper sums (what one Redis carries) from the measured figures.
 */
import { median, percentile } from './load.js';
import type { FailoverSeries } from './scale-out-failover.js';
import type { StoreMeasure } from './scale-out-store.js';
import type { ThroughputResult } from './scale-out-throughput.js';

const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function reportFailovers(series: FailoverSeries[]): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const s of series) {
    const ok = s.samples.filter((x) => x.error === undefined);
    const sorted = (pick: (x: (typeof ok)[number]) => number | undefined) => ok.map((x) => pick(x) ?? Number.NaN).sort((a, b) => a - b);
    const total = sorted((x) => x.totalMs);
    rows.push([
      s.retry,
      s.haproxy,
      `${ok.length}/${s.samples.length}`,
      f(percentile(total, 50)),
      f(percentile(total, 90)),
      f(total.at(-1) ?? Number.NaN),
      f(median(sorted((x) => x.reconnectWaitMs))),
      f(median(sorted((x) => x.takeoverMs))),
      f(median(sorted((x) => x.restMs))),
      f(median(sorted((x) => x.haproxyDownMs).filter((n) => Number.isFinite(n)))),
      f(Math.max(0, ...ok.map((x) => x.resumeAttempts))),
      runsSummary(s.samples.map((x) => x.upstreamRuns)),
    ]);
    s.samples.forEach((x, i) => {
      // The full story (every GET, the survivor's log) went to stderr as it happened; here, its start.
      if (x.error)
        notes.push(`- retry ${s.retry}, HAProxy ${s.haproxy}, iteration ${i + 1} failed (run_job ran ${x.upstreamRuns}× upstream): ${x.error.slice(0, 700)}…`);
    });
  }
  return [
    '### Failover: agent gets its result after its replica is SIGKILLed',
    '',
    table(
      [
        'SSE retry',
        'haproxy.cfg',
        'succeeded',
        'p50 ms',
        'p90 ms',
        'max ms',
        'median wait before resume ms',
        'median takeover ms',
        'median rest ms',
        'median HAProxy marks it DOWN ms (when before the result)',
        'most GETs',
        'run_job runs upstream per iteration',
      ],
      rows,
    ),
    ...(notes.length > 0 ? ['', ...notes] : []),
    '',
  ].join('\n');
}

function runsSummary(runs: number[]): string {
  const counts = new Map<number, number>();
  for (const r of runs) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => a[0] - b[0])
    .map(([runsPerIteration, n]) => `${runsPerIteration} run: ${n}×`)
    .join(', ');
}

export function reportStore(measures: StoreMeasure[]): string {
  const on = (scenario: string) => measures.find((m) => m.scenario === scenario && m.resumption);
  const off = (scenario: string) => measures.find((m) => m.scenario === scenario && !m.resumption);
  const scenarios = [...new Set(measures.map((m) => m.scenario))];
  const rows = scenarios.map((scenario) => {
    const a = on(scenario);
    const b = off(scenario);
    const events = a?.eventsPerCall ?? 0;
    return [
      scenario,
      String(a?.calls ?? '—'),
      f(a?.roundTripsPerCall ?? Number.NaN, 2),
      f(b?.roundTripsPerCall ?? Number.NaN, 2),
      f(a?.sessionRoundTripsPerCall ?? Number.NaN, 2),
      f(b?.sessionRoundTripsPerCall ?? Number.NaN, 2),
      f(a?.progressPerCall ?? Number.NaN, 1),
      f(events, 2),
      f(a?.sessionBytesSentPerCall ?? Number.NaN),
      events > 0 ? f(a?.bytesPerEvent ?? Number.NaN) : '—',
      events > 0 ? f(a?.memoryPerEvent ?? Number.NaN) : '—',
    ];
  });
  const init = measures.find((m) => m.resumption)?.sessionRoundTripsAtInitialize ?? Number.NaN;
  return [
    '### Event store: Redis cost of resumption per call (on vs off)',
    '',
    table(
      [
        'call',
        'calls',
        'round trips/call, on',
        'off',
        'on session keys/call, on',
        'off',
        'progress/call',
        'events stored/call',
        'bytes sent to session keys/call',
        'stored field bytes/event',
        'MEMORY USAGE bytes/event',
      ],
      rows,
    ),
    '',
    `Session keys touched at initialize (resumption on): ${init} round trip(s) per session.`,
    '',
  ].join('\n');
}

export function reportThroughput(result: ThroughputResult, store?: StoreMeasure[]): string {
  const rows = result.measures.map((m) => {
    const gateways = m.cpu.replicaA + m.cpu.replicaB;
    return [
      m.setup,
      f(m.callsPerSec),
      f(m.p50Ms, 1),
      f(m.p99Ms, 1),
      String(m.errors),
      f(m.cpu.replicaA, 3),
      f(m.cpu.replicaB, 3),
      f(m.cpu.haproxy, 3),
      f(m.cpu.redis, 3),
      f(gateways + m.cpu.haproxy + m.cpu.redis, 3),
    ];
  });
  const one = result.measures.find((m) => m.setup === 'one replica');
  const two = result.measures.find((m) => m.setup === 'two replicas');
  const ratio = one && two ? two.callsPerSec / one.callsPerSec : Number.NaN;
  const lines = [
    `### One vs two replicas behind HAProxy (c=${result.concurrency}, allowed list_jobs, ${result.rounds} × ${result.seconds} s per set-up, medians)`,
    '',
    table(
      ['set-up', 'calls/s', 'p50 ms', 'p99 ms', 'errors', 'CPU ms/call, replica A tree', 'replica B tree', 'HAProxy', 'Redis', 'sum (without the client)'],
      rows,
    ),
    '',
    `Two replicas ÷ one: ${f(ratio, 2)}× the calls/s.`,
    `Redis round trips per allowed call (MONITOR, two replicas): ${f(result.redisRoundTripsPerCall, 2)} — ${result.redisRoundTripsByCommand
      .slice(0, 5)
      .map(([k, v]) => `${k} ${f(v, 2)}`)
      .join(', ')}.`,
  ];
  const cap = result.capacity;
  const redisMs = two?.cpu.redis ?? Number.NaN;
  const held = store?.find((m) => m.scenario === 'held, approved at once' && m.resumption);
  const streamed = store?.find((m) => m.scenario === 'allowed, streams progress' && m.resumption);
  lines.push('', '**What one Redis carries (on paper).**', '');
  if (cap) {
    const get = cap.unpipelined['GET'] ?? Number.NaN;
    const set = cap.unpipelined['SET'] ?? Number.NaN;
    const rt = Math.min(get, set);
    lines.push(
      `- redis-benchmark on this machine (50 clients, no pipelining): SET ${f(set)}/s, GET ${f(get)}/s; with 16 pipelined: SET ${f(cap.pipelined16['SET'] ?? Number.NaN)}/s, GET ${f(cap.pipelined16['GET'] ?? Number.NaN)}/s.`,
      `- By round trips: ${f(rt)} round trips/s ÷ ${f(result.redisRoundTripsPerCall, 2)} per allowed call ≈ **${f(rt / result.redisRoundTripsPerCall)} allowed calls/s**` +
        (held ? `; ÷ ${f(held.roundTripsPerCall, 1)} per held call ≈ **${f(rt / held.roundTripsPerCall)} held calls/s**` : '') +
        (streamed ? `; ÷ ${f(streamed.roundTripsPerCall, 1)} per streamed call ≈ ${f(rt / streamed.roundTripsPerCall)} streamed calls/s` : '') +
        '.',
    );
  } else {
    lines.push('- redis-benchmark not found: capacity by round trips not measured.');
  }
  const msPerRoundTrip = redisMs / result.redisRoundTripsPerCall;
  lines.push(
    `- By Redis CPU measured under the gateway's own load (two replicas): ${f(redisMs, 3)} ms per allowed call (${f(msPerRoundTrip * 1_000, 0)} µs per round trip) → one core saturates at ≈ **${f(1_000 / redisMs)} allowed calls/s**` +
      (held
        ? `; at the same cost per round trip, ${f(held.roundTripsPerCall, 1)} round trips per held call ≈ **${f(1_000 / (msPerRoundTrip * held.roundTripsPerCall))} held calls/s**`
        : '') +
      '.',
    '',
  );
  return lines.join('\n');
}

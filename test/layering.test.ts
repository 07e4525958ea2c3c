/**
 * The dependency direction of DESIGN.md, checked on the source: front → policy, limits, approvals
 * → upstream, everything → audit; the approvals core never imports a channel; the approvals
 * contract is its two ports (only the composition root and the CLI build the service, nobody
 * outside reaches its store or its machinery); channels are registered in one file; the policy
 * engine does no network I/O; and no import cycles anywhere.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/upstreams.js';

const srcRoot = path.join(repoRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

const importPattern = /^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms;

/** Each file's imports: relative ones resolved to files under src/, packages by name. */
const graph = new Map<string, { local: string[]; packages: string[] }>();
for (const file of sourceFiles(srcRoot)) {
  const text = readFileSync(file, 'utf8');
  const local: string[] = [];
  const packages: string[] = [];
  for (const match of text.matchAll(importPattern)) {
    const spec = match[1] ?? '';
    if (spec.startsWith('.')) local.push(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
    else packages.push(spec);
  }
  graph.set(file, { local, packages });
}

const rel = (file: string) => path.relative(srcRoot, file);
const under = (folder: string) => (file: string) => rel(file).startsWith(`${folder}/`);

function violations(from: (file: string) => boolean, to: (file: string) => boolean): string[] {
  const out: string[] = [];
  for (const [file, { local }] of graph) if (from(file)) for (const target of local) if (to(target)) out.push(`${rel(file)} → ${rel(target)}`);
  return out;
}

describe('the layering of src/', () => {
  it('finds the source files it checks', () => {
    expect(graph.size).toBeGreaterThan(30);
  });

  it('keeps the approvals core free of channels and fronts (Slack imports approvals, never the reverse)', () => {
    expect(violations(under('approvals'), (t) => ['slack', 'front', 'http', 'dashboard'].some((f) => under(f)(t)))).toEqual([]);
    const slackPackages = [...graph].filter(([f, g]) => under('approvals')(f) && g.packages.some((p) => p.startsWith('@slack/'))).map(([f]) => rel(f));
    expect(slackPackages).toEqual([]);
  });

  it('lets only the composition root and the CLI build the approvals service; everyone else uses its ports', () => {
    const service = (t: string) => rel(t) === 'approvals/approval-service.ts';
    expect(violations((f) => !under('approvals')(f), service)).toEqual([
      'cli/approvals.ts → approvals/approval-service.ts',
      'gateway.ts → approvals/approval-service.ts',
    ]);
  });

  it('keeps the approvals store and machinery private to src/approvals/', () => {
    // What other folders may use: the two ports, the vocabulary (grants' too), the display views, the deciders, and the retry signal for notifiers.
    const published = [
      'ports.ts',
      'types.ts',
      'approval-view.ts',
      'deciders.ts',
      'notification-queue.ts',
      'approval-service.ts',
      'approval-reader.ts',
      'grant-types.ts',
      'grant-view.ts',
    ].map((f) => `approvals/${f}`);
    const privatePart = (t: string) => under('approvals')(t) && !published.includes(rel(t));
    expect(violations((f) => !under('approvals')(f), privatePart)).toEqual([]);
    const notificationUsers = violations(
      (f) => !under('approvals')(f),
      (t) => rel(t) === 'approvals/notification-queue.ts',
    );
    expect(notificationUsers.every((v) => v.startsWith('slack/') || v.startsWith('webhook/'))).toBe(true);
  });

  it('names channels in one registration file: the gateway and the approvals core never import one', () => {
    const channelFolders = ['slack', 'webhook'];
    const isChannel = (t: string) => channelFolders.some((folder) => under(folder)(t));
    expect(violations((f) => rel(f) === 'gateway.ts' || under('approvals')(f) || under('front')(f), isChannel)).toEqual([]);
    expect(violations((f) => !isChannel(f), isChannel).filter((v) => !v.startsWith('channel-registry.ts → '))).toEqual([]);
  });

  it('keeps policy, limits and audit below the front, the approvals and the channels', () => {
    const lower = (f: string) => ['policy', 'limits', 'audit'].some((folder) => under(folder)(f));
    const upper = (t: string) => ['front', 'approvals', 'slack', 'http', 'dashboard'].some((folder) => under(folder)(t)) || rel(t) === 'gateway.ts';
    expect(violations(lower, upper)).toEqual([]);
  });

  it('keeps the policy engine free of network clients', () => {
    const network = ['ioredis', 'bullmq', 'express', '@slack/bolt', '@slack/web-api'];
    const offenders = [...graph].filter(([f, g]) => under('policy')(f) && g.packages.some((p) => network.includes(p))).map(([f]) => rel(f));
    expect(offenders).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(file)), file].map(rel).join(' → '));
        return;
      }
      state.set(file, 'visiting');
      stack.push(file);
      for (const next of graph.get(file)?.local ?? []) if (graph.has(next)) visit(next);
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file);
    expect(cycles).toEqual([]);
  });
});

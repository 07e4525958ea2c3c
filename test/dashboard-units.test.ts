/**
 * The dashboard's pure parts: the escaping `html` template, the return-path check, the
 * credential checker and the words shown for each decision result.
 */
import { describe, expect, it } from 'vitest';
import { toApprovalView } from '../src/approvals/approval-view.js';
import type { ApprovalRecord, DecisionResult } from '../src/approvals/types.js';
import { safeNext } from '../src/dashboard/context.js';
import { createCredentialChecker } from '../src/dashboard/credentials.js';
import { decisionFlash } from '../src/dashboard/decision-flash.js';
import { html, localUrl } from '../src/dashboard/html.js';
import { approvalBody } from '../src/dashboard/views/approval-page.js';
import { formatSpan } from '../src/dashboard/views/format.js';
import { hashToken } from '../src/identity/tokens.js';
import { runJobHold } from './helpers/approvals.js';

describe('the html template', () => {
  it('escapes every interpolated string, in text and in attributes', () => {
    const value = `<script>alert("x")</script> & 'quotes'`;
    expect(html`<p title="${value}">${value}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;</p>',
    );
  });

  it('inserts nested templates as they are, without escaping them twice', () => {
    const inner = html`<b>${'a<b'}</b>`;
    expect(html`<p>${inner}${[inner, ' & ', 3]}</p>`.value).toBe('<p><b>a&lt;b</b><b>a&lt;b</b> &amp; 3</p>');
  });

  it('renders false, null and undefined as nothing', () => {
    expect(html`<p>${false}${null}${undefined}</p>`.value).toBe('<p></p>');
  });

  it('builds local URLs without empty parameters', () => {
    expect(localUrl('/history', { agent: 'a b&c', tool: '', type: undefined })).toBe('/history?agent=a+b%26c');
    expect(localUrl('/history', {})).toBe('/history');
  });
});

describe('the return path after sign-in', () => {
  it('keeps local paths and turns anything else into the home page', () => {
    expect(safeNext('/approvals/apr_1?x=1')).toBe('/approvals/apr_1?x=1');
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil', 'javascript:alert(1)', '/"><script>', 42, undefined])
      expect(safeNext(bad)).toBe('/');
  });
});

describe('the credential checker', () => {
  const checker = createCredentialChecker('admin-secret', {
    alice: { tokenSha256: hashToken('alice-token'), slackUserId: 'U0ALICE', role: 'approver' },
    bob: { tokenSha256: hashToken('bob-token') },
  });

  it('knows the admin token and each user token, and nothing else', () => {
    expect(checker.identify('admin', 'admin-secret')).toEqual({
      login: 'admin',
      role: 'admin',
      actor: { kind: 'admin', id: 'admin:dashboard', name: 'admin' },
    });
    expect(checker.identify('alice', 'alice-token')).toEqual({ login: 'alice', role: 'approver', actor: { kind: 'dashboard', id: 'U0ALICE', name: 'alice' } });
    expect(checker.identify('bob', 'bob-token')).toEqual({ login: 'bob', role: 'viewer', actor: { kind: 'dashboard', id: 'dashboard:bob', name: 'bob' } });
    expect(checker.identify('admin', '')).toBeUndefined();
    expect(checker.identify('admin', 'admin-secret ')).toBeUndefined();
    expect(checker.identify('admin', 'x'.repeat(10_000))).toBeUndefined();
  });

  it('accepts a token only for the user it belongs to', () => {
    expect(checker.identify('bob', 'alice-token')).toBeUndefined();
    expect(checker.identify('alice', 'admin-secret')).toBeUndefined();
    expect(checker.identify('admin', 'alice-token')).toBeUndefined();
  });

  it('is disabled without an admin token or users, and rejects a malformed hash at build time', () => {
    expect(createCredentialChecker(undefined, {}).enabled).toBe(false);
    expect(createCredentialChecker('', {}).identify('admin', '')).toBeUndefined();
    expect(() => createCredentialChecker(undefined, { eve: { tokenSha256: 'abc' } })).toThrow(/dashboard\.users\.eve\.tokenSha256/);
  });
});

describe('the message after a decision', () => {
  const record = {
    id: 'apr_1',
    tool: 'run_job',
    agent: 'agent-a',
    status: 'approved',
    reason: undefined,
    decidedBy: { kind: 'slack', id: 'U1', name: 'carol' },
  } as unknown as ApprovalRecord; // only the fields the messages read
  const cases: Array<[string, DecisionResult, string, string]> = [
    ['decided', { kind: 'decided', record }, 'success', 'Approved run_job from agent-a (apr_1)'],
    ['vote_recorded', { kind: 'vote_recorded', record, approvals: 1, quorum: 2 }, 'info', '1 of 2 approvals'],
    ['duplicate_vote', { kind: 'duplicate_vote', record, approvals: 1, quorum: 2 }, 'info', 'You already approved apr_1'],
    ['already_decided', { kind: 'already_decided', record }, 'info', 'apr_1 was already approved by carol (U1)'],
    [
      'not_authorized',
      { kind: 'not_authorized', record, why: 'you are not an approver for run_job' },
      'error',
      'Not authorized to decide apr_1: you are not an approver for run_job',
    ],
    ['not_found', { kind: 'not_found' }, 'error', 'No approval apr_1'],
  ];
  it.each(cases)('words a %s result for the person who clicked', (_kind, result, level, text) => {
    const flash = decisionFlash('apr_1', 'approve', result);
    expect(flash.level).toBe(level);
    expect(flash.text).toContain(text);
  });
});

describe('spans', () => {
  it('reads at a glance', () => {
    expect([formatSpan(4_000), formatSpan(900_000), formatSpan(904_000), formatSpan(7_200_000), formatSpan(3 * 86_400_000)]).toEqual([
      '4 s',
      '15 min',
      '15 min 4 s',
      '2 h',
      '3 d',
    ]);
  });
});

describe('a call whose outcome is unknown, on its page', () => {
  it('says nobody knows whether it acted, when it was released and by which replica, and offers a re-run form', () => {
    const hold = runJobHold();
    const record: ApprovalRecord = {
      ...hold,
      id: 'apr_unknown01',
      createdAt: Date.parse('2026-11-01T10:00:00Z'),
      expiresAt: Date.parse('2026-11-01T10:15:00Z'),
      status: 'outcome_unknown',
      votes: [{ actor: { kind: 'slack', id: 'U0APPROVER1' }, principal: 'U0APPROVER1', at: Date.parse('2026-11-01T10:01:00Z'), attempt: 1 }],
      decidedBy: { kind: 'slack', id: 'U0APPROVER1' },
      decidedAt: Date.parse('2026-11-01T10:01:00Z'),
      reason: undefined,
      attempt: 1,
      claim: { by: 'replica-1a2b3c4d:99aa', at: Date.parse('2026-11-01T10:01:01Z'), leaseUntil: Date.parse('2026-11-01T10:01:31Z') },
      unknownAt: Date.parse('2026-11-01T10:01:40Z'),
      edit: undefined,
      reminded: [],
      escalated: [],
      execution: undefined,
      channelRefs: {},
    };
    const page = approvalBody({ id: record.id, view: toApprovalView(record), story: [], csrfToken: 'csrf-1', nowMs: Date.parse('2026-11-01T10:05:00Z') }).value;
    expect(page).toContain('nobody knows whether it acted');
    expect(page).toContain('replica-1a2b3c4d:99aa');
    expect(page).toContain('action="/approvals/apr_unknown01/rerun"');
    expect(page).not.toContain('action="/approvals/apr_unknown01/approve"');
  });
});

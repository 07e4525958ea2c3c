/**
 * The admin REST API as an operator's script would use it: real HTTP against a test gateway,
 * bearer admin token, `X-Airlock-Actor` naming the operator.
 */
import type { ApprovalView } from '../../src/approvals/approval-view.js';
import { adminToken } from './gateway.js';

export interface AdminResponse<T> {
  status: number;
  body: T;
}

export interface AdminApi {
  get<T = unknown>(path: string): Promise<AdminResponse<T>>;
  post<T = unknown>(path: string, body?: unknown, actor?: string): Promise<AdminResponse<T>>;
  approvals(status?: string): Promise<ApprovalView[]>;
  approve(id: string, actor?: string): Promise<AdminResponse<{ result?: string; error?: { code: string; message: string } }>>;
  deny(id: string, reason: string, actor?: string): Promise<AdminResponse<{ result?: string; error?: { code: string; message: string } }>>;
  /** Polls until `count` approvals are pending; returns them newest first. */
  waitForPending(count?: number, timeoutMs?: number): Promise<ApprovalView[]>;
}

export function adminApi(baseUrl: string, token = adminToken): AdminApi {
  const call = async <T>(method: string, path: string, body?: unknown, actor?: string): Promise<AdminResponse<T>> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (actor !== undefined) headers['x-airlock-actor'] = actor;
    const res = await fetch(`${baseUrl}/api${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T }; // the admin API always answers JSON
  };
  const api: AdminApi = {
    get: (path) => call('GET', path),
    post: (path, body, actor) => call('POST', path, body ?? {}, actor),
    async approvals(status) {
      const res = await call<{ approvals: ApprovalView[] }>('GET', `/approvals${status ? `?status=${status}` : ''}`);
      if (res.status !== 200) throw new Error(`GET /api/approvals answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body.approvals;
    },
    approve: (id, actor = 'alice') => call('POST', `/approvals/${id}/approve`, {}, actor),
    deny: (id, reason, actor = 'alice') => call('POST', `/approvals/${id}/deny`, { reason }, actor),
    async waitForPending(count = 1, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const pending = await api.approvals('pending');
        if (pending.length >= count) return pending;
        if (Date.now() > deadline) throw new Error(`expected ${count} pending approval(s), found ${pending.length}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  return api;
}

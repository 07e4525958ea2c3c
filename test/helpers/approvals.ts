/**
 * Approval-core replicas (see replicas.ts) on the suite's Redis, and a fresh key prefix per test.
 */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { startApprovalReplica, type Replica, type ReplicaOptions } from './replicas.js';

export { memoryAudit, releaseApproved, runJobHold, runJobResult, slackUser, type MemoryAudit, type Replica } from './replicas.js';

export function startReplica(prefix: string, options: ReplicaOptions = {}): Promise<Replica> {
  return startApprovalReplica(inject('redisUrl'), prefix, options);
}

export function testPrefix(): string {
  return `test-${randomUUID()}:`;
}

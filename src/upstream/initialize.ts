/**
 * The initialize handshake's answer, checked at the edge: an upstream whose answer lacks a
 * protocol version or capabilities is not one the relay can speak for, and says so.
 */
import { AirlockError } from '../errors.js';
import type { UpstreamInit } from './upstream-session.js';

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function parseInitializeResult(upstream: string, result: Record<string, unknown>): UpstreamInit {
  const protocolVersion = result['protocolVersion'];
  const capabilities = record(result['capabilities']);
  if (typeof protocolVersion !== 'string' || !capabilities) {
    throw new AirlockError('upstream_failed', `Upstream "${upstream}" answered initialize without a protocolVersion and capabilities; is it an MCP server?`, {
      details: { upstream },
    });
  }
  const instructions = result['instructions'];
  return {
    protocolVersion,
    capabilities,
    serverInfo: record(result['serverInfo']) ?? { name: upstream, version: 'unknown' },
    instructions: typeof instructions === 'string' && instructions.trim() !== '' ? instructions : undefined,
  };
}

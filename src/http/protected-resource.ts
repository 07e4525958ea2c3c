/**
 * RFC 9728 protected-resource metadata for `/mcp`: how an MCP client that was refused with 401
 * learns which authorization server to sign in with and which resource to ask a token for (the
 * MCP authorization spec, 2025-06-18 and later). Served at the root well-known URL and at the
 * path-suffixed one (`/.well-known/oauth-protected-resource/mcp`), which clients try first.
 * Public and cacheable: it holds nothing secret.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { OAuthSpec } from '../config/oauth-schema.js';

export const wellKnownPath = '/.well-known/oauth-protected-resource';

/** The metadata URL for a resource: the well-known path inserted between the host and the resource's path. */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return `${url.origin}${wellKnownPath}${path}`;
}

/** The metadata document (RFC 9728 §2). */
export function protectedResourceMetadata(spec: OAuthSpec): Record<string, unknown> {
  return {
    resource: spec.resource,
    authorization_servers: spec.authorizationServers,
    ...(spec.scopes.length > 0 ? { scopes_supported: spec.scopes } : {}),
    bearer_methods_supported: ['header'],
    resource_name: 'Airlock',
  };
}

export function protectedResourceRouter(spec: OAuthSpec): Router {
  const router = express.Router();
  const body = protectedResourceMetadata(spec);
  const suffixed = new URL(resourceMetadataUrl(spec.resource)).pathname;
  const serve = (_req: Request, res: Response) => {
    // Browser-based MCP clients (the Inspector) read it cross-origin.
    res.set({ 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=3600' }).json(body);
  };
  router.get(wellKnownPath, serve);
  if (suffixed !== wellKnownPath) router.get(suffixed, serve);
  return router;
}

/**
 * The values a standing grant is pinned to, computed the same way when a call is held (so a grant
 * can be made from it) and when a later call looks for a grant: the keyed digest of the canonical
 * JSON (RFC 8785) of `[path, value]` — `[path]` when the call has no value there — so equal values
 * match whatever their key order or number spelling, a redacted value is never stored, and a
 * missing value never matches a present one.
 */
import type { GrantPin } from '../approvals/grant-types.js';
import { canonicalJson, type JsonObject } from '../util/canonical.js';
import { getPath, parsePath } from '../util/paths.js';

export interface DigestPort {
  hash(canonicalJson: string): Promise<string>;
}

/** The call's pins at `paths`: digest of the full value, and the value as approvers may see it (`shownArgs`: redacted). */
export async function grantPins(hasher: DigestPort, args: JsonObject, paths: readonly string[], shownArgs: unknown): Promise<GrantPin[]> {
  return Promise.all(
    paths.map(async (path) => {
      const segments = parsePath(path);
      const value = getPath(args, segments);
      const shown = getPath(shownArgs, segments);
      const digest = await hasher.hash(canonicalJson(value === undefined ? [path] : [path, value]));
      return { path, digest, ...(shown === undefined ? {} : { shown }) };
    }),
  );
}

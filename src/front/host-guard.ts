/**
 * DNS-rebinding protection for /mcp, the first check of every request (before authentication):
 * a browser tricked into talking to the gateway sends a foreign Host or Origin, and is refused
 * with 403. Defaults follow the bind address: bound to loopback, only loopback Host names are
 * accepted; bound elsewhere, any Host (a reverse proxy decides the name) unless `allowedHosts`
 * says otherwise. Browsers' Origin must be a loopback origin unless `allowedOrigins` names it;
 * programs (agents) send no Origin and are not affected.
 */

export interface HostGuardOptions {
  /** The address the gateway listens on. */
  bindHost: string;
  /** Host header values accepted (`name` matches any port, `name:port` only that port). */
  allowedHosts?: readonly string[] | undefined;
  /** Origin header values accepted, e.g. `https://inspector.example.com`. */
  allowedOrigins?: readonly string[] | undefined;
}

const loopbackNames = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** `127.0.0.1:8080` → `127.0.0.1`; `[::1]:8080` → `[::1]`. */
function hostnameOf(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

export function isLoopbackHost(host: string): boolean {
  return loopbackNames.has(hostnameOf(host));
}

/** Returns why a request must be refused, or undefined when its Host and Origin are acceptable. */
export function createHostGuard(options: HostGuardOptions): (host: string | undefined, origin: string | undefined) => string | undefined {
  const explicitHosts = options.allowedHosts?.map((h) => h.trim().toLowerCase());
  const explicitOrigins = options.allowedOrigins?.map((o) => o.trim().toLowerCase().replace(/\/$/, ''));
  const boundToLoopback = loopbackNames.has(options.bindHost.toLowerCase());

  const hostAllowed = (host: string): boolean => {
    const lower = host.trim().toLowerCase();
    if (explicitHosts)
      return explicitHosts.some((allowed) => allowed === lower || ((!allowed.includes(':') || allowed.startsWith('[')) && allowed === hostnameOf(lower)));
    return !boundToLoopback || isLoopbackHost(lower);
  };

  const originAllowed = (origin: string): boolean => {
    const lower = origin.trim().toLowerCase().replace(/\/$/, '');
    if (explicitOrigins?.includes(lower) || explicitOrigins?.includes('*')) return true;
    try {
      const url = new URL(lower);
      return (url.protocol === 'http:' || url.protocol === 'https:') && loopbackNames.has(url.hostname);
    } catch {
      return false;
    }
  };

  return (host, origin) => {
    if (host === undefined || host === '') return 'the request has no Host header';
    if (!hostAllowed(host)) return `Host "${host}" is not one this gateway serves (DNS-rebinding protection; operators: see http.allowedHosts)`;
    if (origin !== undefined && origin !== '' && !originAllowed(origin)) {
      return `Origin "${origin}" may not call this gateway from a browser (DNS-rebinding protection; operators: see http.allowedOrigins)`;
    }
    return undefined;
  };
}

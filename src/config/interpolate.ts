/**
 * `${VAR}` and `${VAR:-default}` interpolation over a parsed JSON tree, before schema validation.
 * Secrets come only from the environment: a header or env entry that looks like a credential but is
 * written literally into the file is reported, so tokens never end up committed with the config.
 */
import { jsonPath, type LoadProblem } from '../errors.js';

const reference = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const secretHeader = /authorization|token|secret|api[-_]?key|password|cookie/i;
const secretEnv = /TOKEN|SECRET|PASSWORD|API_?KEY|PRIVATE_?KEY|CREDENTIAL/i;

export interface InterpolationResult {
  value: unknown;
  problems: LoadProblem[];
}

/** Replaces every `${VAR}` in string values with `env[VAR]`; `$${` writes a literal `${`. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv): InterpolationResult {
  const problems: LoadProblem[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === 'string') return substitute(node, path);
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = walk(child, [...path, key]);
      return out;
    }
    return node;
  };
  const substitute = (text: string, path: PropertyKey[]): string => {
    checkLiteralSecret(text, path);
    return text.replace(reference, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const found = name === undefined ? undefined : env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push({
        path: jsonPath(path),
        message: `environment variable ${name} is not set: export it, or write \${${name}:-default} to give a default`,
      });
      return '';
    });
  };
  const checkLiteralSecret = (text: string, path: PropertyKey[]): void => {
    if (isClientSecretPath(path) && !text.includes('${') && text !== '') {
      problems.push({
        path: jsonPath(path),
        message: 'a client secret written into the config file: put it in an environment variable and write "${NAME}" here',
      });
      return;
    }
    const [section, , field, key] = path;
    if (section !== 'mcpServers' || typeof key !== 'string' || text.includes('${') || text === '') return;
    const looksSecret = (field === 'headers' && secretHeader.test(key)) || (field === 'env' && secretEnv.test(key));
    if (looksSecret) {
      problems.push({
        path: jsonPath(path),
        message: `looks like a credential written into the config file: put it in an environment variable and write "\${${suggestEnvName(key)}}" here`,
      });
    }
  };
  return { value: walk(value, []), problems };
}

/** `mcpServers.X.auth.clientSecret` and `oauth.introspection.clientSecret`. */
function isClientSecretPath(path: PropertyKey[]): boolean {
  const [section, name, field, key] = path;
  if (section === 'mcpServers') return typeof name === 'string' && field === 'auth' && key === 'clientSecret' && path.length === 4;
  return section === 'oauth' && name === 'introspection' && field === 'clientSecret' && path.length === 3;
}

function suggestEnvName(key: string): string {
  const upper = key.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  return upper === 'AUTHORIZATION' ? 'UPSTREAM_TOKEN' : upper;
}

/**
 * A Node.js 22 binary for the conformance suite's CLI, which needs `fs.globSync` (Node >= 22)
 * while the project runs on Node 20. The running Node is used when it is new enough; otherwise
 * the `node-<platform>-<arch>@22` package (the official binary, published on the npm registry) is
 * fetched with `npm pack` into `.cache/node22/` (ignored by git) and reused on later runs. Nothing
 * is required of the machine but npm and tar.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

const wantedMajor = 22;

function majorOf(binary: string): number | undefined {
  try {
    const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim(); // e.g. "v22.23.3"
    return Number(/^v(\d+)\./.exec(version)?.[1]);
  } catch {
    return undefined;
  }
}

/** Path of a Node >= 22 binary: this process's own, else the cached one, else a freshly installed one. */
export function ensureNode22(cacheRoot: string, log: (line: string) => void): string {
  if (Number(process.versions.node.split('.')[0]) >= wantedMajor) return process.execPath;
  const cacheDir = path.join(cacheRoot, `node${wantedMajor}`);
  const binary = path.join(cacheDir, 'package', 'bin', 'node');
  if (existsSync(binary) && majorOf(binary) === wantedMajor) return binary;

  const spec = `node-${process.platform}-${process.arch}@${wantedMajor}`;
  log(`conformance: Node ${process.versions.node} is too old for the suite's CLI; installing ${spec} from the npm registry into ${cacheDir}`);
  mkdirSync(cacheRoot, { recursive: true });
  // Unpacked in a scratch folder and moved into place whole, so an interrupted install is never reused.
  const scratch = mkdtempSync(path.join(cacheRoot, 'node-install-'));
  try {
    const packed = JSON.parse(execFileSync('npm', ['pack', spec, '--json', '--pack-destination', scratch], { encoding: 'utf8' })) as { filename: string }[]; // npm pack --json prints an array with one entry per package
    const tarball = packed[0]?.filename;
    if (!tarball) throw new Error(`npm pack ${spec} reported no file`);
    execFileSync('tar', ['-xzf', path.join(scratch, tarball), '-C', scratch]);
    const unpacked = path.join(scratch, 'package', 'bin', 'node');
    if (majorOf(unpacked) !== wantedMajor) throw new Error(`${spec} did not contain a working Node ${wantedMajor} at package/bin/node`);
    rmSync(cacheDir, { recursive: true, force: true });
    mkdirSync(cacheDir, { recursive: true });
    renameSync(path.join(scratch, 'package'), path.join(cacheDir, 'package'));
  } catch (error) {
    throw new Error(
      `Could not install ${spec} for the conformance suite (${error instanceof Error ? error.message : String(error)}). ` +
        `Check that npm can reach its registry, or run the suite with Node ${wantedMajor}+.`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return binary;
}

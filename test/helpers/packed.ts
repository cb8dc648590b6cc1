import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

/** Runs a command to its end; throws with its output unless it exited 0. */
function runOrThrow(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 240_000 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** `pnpm pack`s a workspace package into `destination`; returns the tarball's path. */
export function packWorkspacePackage(packageDir: string, destination: string): string {
  const pnpm = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
    .packageManager as string;
  runOrThrow(
    "npx",
    ["-y", pnpm, "pack", "--pack-destination", destination],
    join(root, packageDir),
  );
  const { name, version } = JSON.parse(
    readFileSync(join(root, packageDir, "package.json"), "utf8"),
  ) as { name: string; version: string };
  return join(destination, `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`);
}

/** The CLI as a user installs it: where its package and entry point are. */
export interface InstalledCli {
  /** The scratch folder holding the tarball and the prefix (the caller removes it). */
  readonly scratch: string;
  /** The installed package's folder (`<prefix>/lib/node_modules/@canon/cli`). */
  readonly packageDir: string;
  /** Its `canon` bin as its package.json names it (`dist/canon.cjs`). */
  readonly bin: string;
}

/**
 * `pnpm pack`s the CLI and `npm install -g`s the tarball into a scratch
 * prefix, as the README's install section says a user does: no clone, no
 * build, only what npm installs from the tarball's dependencies.
 */
export async function installCliFromTarball(): Promise<InstalledCli> {
  const scratch = await mkdtemp(join(tmpdir(), "canon-install-"));
  const tarball = packWorkspacePackage("packages/cli", scratch);
  const prefix = join(scratch, "prefix");
  runOrThrow(
    "npm",
    ["install", "-g", "--no-audit", "--no-fund", "--prefix", prefix, tarball],
    scratch,
  );
  const packageDir = join(prefix, "lib/node_modules/@canon/cli");
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
    bin: { canon: string };
  };
  return { scratch, packageDir, bin: join(packageDir, manifest.bin.canon) };
}

import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The built CLI's installed bin (the CommonJS `canon.cjs`, which imports `canon.mjs`; not the pnpm wrapper). */
export const CANON_BIN = resolve(import.meta.dirname, "../../packages/cli/dist/canon.cjs");

/** What one run of the CLI did. */
export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (throws if it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** A temporary CANON_HOME and a way to run `canon` in it, as a real child process. */
export interface Sandbox {
  readonly home: string;
  readonly dir: string;
  canon(...args: string[]): Run;
  /** Like `canon`, without blocking this process (for servers the test itself runs). */
  canonAsync(...args: string[]): Promise<Run>;
  /** Runs and fails the test unless the exit status is 0. */
  ok(...args: string[]): Run;
  file(name: string, content: string | Uint8Array): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * Creates a sandbox with an empty home in a new temporary directory. Its
 * commands run without an owner process (`CANON_NO_OWNER=1`, unless the
 * environment says otherwise): test/owner.test.ts tests the owner, and no
 * test leaves one behind.
 */
export async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), "canon-e2e-"));
  const home = join(dir, "home");
  const canon = (...args: string[]): Run => {
    const result = spawnSync(process.execPath, [CANON_BIN, ...args], {
      env: { CANON_NO_OWNER: "1", ...process.env, CANON_HOME: home },
      encoding: "utf8",
      cwd: dir,
      timeout: 60_000,
      // A standard of several megabytes is printed whole (the default of 1 MiB kills the command).
      maxBuffer: 256 * 1024 * 1024,
    });
    return {
      status: result.status,
      stdout: result.stdout,
      stderr: result.stderr,
      json: <T>() => JSON.parse(result.stdout) as T,
    };
  };
  const canonAsync = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [CANON_BIN, ...args],
        {
          env: { CANON_NO_OWNER: "1", ...process.env, CANON_HOME: home },
          cwd: dir,
          timeout: 60_000,
          maxBuffer: 256 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const status = error ? (typeof error.code === "number" ? error.code : null) : 0;
          resolve({ status, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
        },
      );
    });
  return {
    home,
    dir,
    canon,
    canonAsync,
    ok(...args) {
      const run = canon(...args);
      if (run.status !== 0)
        throw new Error(`canon ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
      return run;
    },
    async file(name, content) {
      const path = join(dir, name);
      await writeFile(path, content);
      return path;
    },
    // A process the test started on this home (an MCP server, a watch) may
    // still be writing while it stops: retry a folder that filled meanwhile.
    dispose: () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
  };
}

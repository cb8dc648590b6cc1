import { spawn } from "node:child_process";
import { constants } from "node:os";
import { join } from "node:path";
import { glob } from "tinyglobby";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { type Stamped, stamp } from "../operations/stamp.js";
import { LOCK_FILE } from "./lock-file.js";
import { type PullReport, pull } from "./pull.js";

/** What `canon run` runs. */
export interface RunRequest {
  readonly dir: string;
  readonly space?: string | undefined;
  readonly frozen?: boolean | undefined;
  readonly offline?: boolean | undefined;
  readonly timeoutMs: number;
  /** Files to stamp (a glob, relative to `cwd`) when the command exits 0. */
  readonly stampGlob?: string | undefined;
  /** Who stamps; needed only with `stampGlob`. */
  readonly signer?: (() => Promise<Signer>) | undefined;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly warn?: ((message: string) => void) | undefined;
}

/** What a run did. */
export interface RunReport {
  readonly pull: PullReport;
  /** The command's exit status (128 + n after signal n). */
  readonly exitStatus: number;
  readonly stamped: readonly Stamped[];
}

/**
 * Pulls the project (bounded by `timeoutMs`; `frozen` refuses a stale lock),
 * runs the command with `CANON_LOCK` (absolute path of canon.lock) and
 * `CANON_CONTEXT_DIR` (the project directory) in its environment and stdio
 * inherited, and when it exits 0 stamps every file matching `stampGlob` with
 * the lock's releases (each with the corrections in force); the glob does
 * not follow linked folders.
 * @throws CanonError as `pull` and `stamp` do; `FILE_UNREADABLE` when the command cannot be started.
 */
export async function runInProject(home: CanonHome, request: RunRequest): Promise<RunReport> {
  const pulled = await pull(home, { ...request, asCommand: "run" });
  const exitStatus = await new Promise<number>((resolve, reject) => {
    const child = spawn(request.command, [...request.args], {
      cwd: request.cwd,
      stdio: "inherit",
      env: {
        ...process.env,
        CANON_LOCK: join(pulled.project, LOCK_FILE),
        CANON_CONTEXT_DIR: pulled.project,
      },
    });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
    );
  }).catch(async (error: NodeJS.ErrnoException) => {
    const { CanonError } = await import("@canon/core");
    throw new CanonError(
      "FILE_UNREADABLE",
      `cannot run ${JSON.stringify(request.command.slice(0, 200))}: ${error.code ?? error.message}`,
    );
  });
  const stamped: Stamped[] = [];
  if (exitStatus === 0 && request.stampGlob !== undefined && request.signer !== undefined) {
    const signer = await request.signer();
    const outputs =
      // A linked folder is not followed: a repository's `out/ext` → `/etc` would put stamp files there.
      (
        await glob(request.stampGlob, {
          cwd: request.cwd,
          absolute: true,
          dot: false,
          followSymbolicLinks: false,
        })
      )
        .filter((path) => !path.endsWith(".canon.json"))
        .sort();
    const context = pulled.standards.map((entry) => `${entry.standard}@${entry.release}`);
    for (const output of outputs)
      stamped.push(await stamp(home, signer, { output, context, space: pulled.space }));
  }
  return { pull: pulled, exitStatus, stamped };
}

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CANON_BIN } from "./cli.js";

/** What one run of the CLI did. */
export interface OwnerRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `canon` as real processes in homes that may have an owner process
 * (unlike `sandbox()`, which runs every command with `CANON_NO_OWNER=1`).
 * Every owner it starts is killed by {@link OwnerHomes.killOwners}.
 */
export interface OwnerHomes {
  /** The environment of a command in `home` (`CANON_NO_OWNER` only when `extra` sets it). */
  env(home: string, extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Runs `canon args` in `home`, from `cwd` (the homes' folder by default). */
  run(
    home: string,
    args: readonly string[],
    extra?: Record<string, string>,
    cwd?: string,
  ): Promise<OwnerRun>;
  /** Runs and throws unless the exit status is 0. */
  ok(home: string, args: readonly string[], extra?: Record<string, string>): Promise<OwnerRun>;
  /** The pid of the home's owner as `canon owner --status` reports it, undefined when none answers. */
  ownerPid(home: string): Promise<number | undefined>;
  /** Starts `canon owner` for a home (with `nodeArgs` before the CLI, as `--require <preload>`) and waits until it answers. */
  startOwner(
    home: string,
    nodeArgs?: readonly string[],
    extraEnv?: Readonly<Record<string, string>>,
  ): Promise<ChildProcess>;
  /** A home with an identity and a space holding version 1 of `s` (written without an owner). */
  homeWithSpace(name: string): Promise<{ home: string; file: string; space: string }>;
  /** SIGKILLs every owner this started that still runs, and any pid passed to `track`. */
  killOwners(): void;
  /** Kills `pid` at the end too (an owner started on demand). */
  track(pid: number): void;
}

/** Polls `probe` every 100 ms until it gives a value, or throws after `ms`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** True while a process with this pid exists. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Homes under `dir` whose commands may go through owner processes. */
export function ownerHomes(dir: string): OwnerHomes {
  const owners: ChildProcess[] = [];
  const pids = new Set<number>();
  const env = (home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const values: NodeJS.ProcessEnv = {
      ...process.env,
      CANON_HOME: home,
      CANON_OWNER_IDLE_SECONDS: "60",
      ...extra,
    };
    if (extra.CANON_NO_OWNER === undefined) delete values.CANON_NO_OWNER;
    return values;
  };
  const run = (
    home: string,
    args: readonly string[],
    extra: Record<string, string> = {},
    cwd = dir,
  ) =>
    new Promise<OwnerRun>((resolve) => {
      execFile(
        process.execPath,
        [CANON_BIN, ...args],
        { env: env(home, extra), cwd, timeout: 60_000 },
        (error, stdout, stderr) => {
          const status = error ? (typeof error.code === "number" ? error.code : null) : 0;
          resolve({ status, stdout, stderr });
        },
      );
    });
  const ok = async (home: string, args: readonly string[], extra: Record<string, string> = {}) => {
    const result = await run(home, args, extra);
    if (result.status !== 0)
      throw new Error(`canon ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
    return result;
  };
  const ownerPid = async (home: string) => {
    const status = JSON.parse((await ok(home, ["owner", "--status", "--json"])).stdout) as {
      running: boolean;
      pid?: number;
    };
    return status.running ? status.pid : undefined;
  };
  return {
    env,
    run,
    ok,
    ownerPid,
    async startOwner(home, nodeArgs = [], extraEnv = {}) {
      const child = spawn(process.execPath, [...nodeArgs, CANON_BIN, "owner"], {
        env: { ...env(home), ...extraEnv },
        stdio: "ignore",
      });
      owners.push(child);
      await until("the owner answering", () => ownerPid(home));
      return child;
    },
    async homeWithSpace(name) {
      const home = join(dir, name);
      const file = join(dir, `${name}.md`);
      const alone = { CANON_NO_OWNER: "1" };
      await ok(home, ["init"], alone);
      const created = JSON.parse(
        (await ok(home, ["space", "create", name, "--json"], alone)).stdout,
      );
      await writeFile(file, "version 1\n");
      await ok(home, ["publish", "s", file], alone);
      return { home, file, space: created.url as string };
    },
    killOwners() {
      for (const child of owners.splice(0))
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      for (const pid of pids) if (isRunning(pid)) process.kill(pid, "SIGKILL");
      pids.clear();
    },
    track(pid) {
      pids.add(pid);
    },
  };
}

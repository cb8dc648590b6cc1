import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { CANON_BIN } from "./cli.js";

/** A long-running `canon` process (relay, serve, watch) started by a test. */
export interface Background {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Lines printed on stdout so far. */
  readonly lines: string[];
  /** Resolves with the first stdout line matching `predicate`, or rejects after `timeoutMs`. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends a signal and waits for the process to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Starts `canon <args>` in the background with the given CANON_HOME (and, to test an installed CLI, its entry point). */
export function startCanon(args: readonly string[], home: string, bin = CANON_BIN): Background {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { CANON_NO_OWNER: "1", ...process.env, CANON_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  const lines: string[] = [];
  const waiters: { predicate: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  return {
    child,
    pid: child.pid as number,
    lines,
    waitForLine(predicate, timeoutMs = 20_000) {
      const found = lines.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no matching line within ${timeoutMs} ms; stdout: ${lines.join("\n")}; stderr: ${stderr}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

/** A relay started as `canon relay`, with its URL. */
export interface RelayProcess extends Background {
  readonly url: string;
  readonly port: number;
  readonly data: string;
}

/** Starts a relay process on 127.0.0.1 and waits until it listens. */
export async function startRelay(
  data: string,
  options: {
    port?: number;
    token?: string;
    tokens?: string;
    peers?: string[];
    home?: string;
    /** More `canon relay` flags (limits, for one). */
    flags?: readonly string[];
    /** The CLI to run it with (an installed one); this repository's build by default. */
    bin?: string;
  } = {},
): Promise<RelayProcess> {
  const args = ["relay", "--port", String(options.port ?? 0), "--data", data, "--json"];
  args.push(...(options.flags ?? []));
  if (options.token) args.push("--token", options.token);
  if (options.tokens) args.push("--tokens", options.tokens);
  for (const peer of options.peers ?? []) args.push("--peer", peer);
  const background = startCanon(args, options.home ?? data, options.bin);
  const line = await background.waitForLine((l) => l.startsWith("{"));
  const url = (JSON.parse(line) as { url: string }).url;
  return { ...background, url, port: Number(new URL(url).port), data };
}

/** Kills every process a test left running (by its own pid). */
export async function stopAll(): Promise<void> {
  for (const child of [...running]) {
    child.kill("SIGKILL");
  }
  running.clear();
}

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The built app, run exactly as a deployment runs it. */
export const RELAY_MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/** A `canon-relay` process started by a test, with what it printed. */
export interface RelayProcess {
  readonly child: ChildProcess;
  /** The JSON line it printed once listening. */
  readonly started: { readonly url: string; readonly port: number } & Record<string, unknown>;
  readonly stdout: string[];
  stderr(): string;
  /** Sends `signal` (SIGKILL unless given) to this process and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ChildProcess>();

/**
 * Starts the built relay with only the given `CANON_RELAY_*` variables (on
 * 127.0.0.1, a free port) and waits for its start-up line.
 */
export async function startRelayProcess(variables: Record<string, string>): Promise<RelayProcess> {
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
  );
  const child = spawn(process.execPath, [RELAY_MAIN], {
    env: { ...environment, CANON_RELAY_HOST: "127.0.0.1", CANON_RELAY_PORT: "0", ...variables },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const stdout: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    stdout.push(line);
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const kill = (signal: NodeJS.Signals = "SIGKILL") =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  const deadline = Date.now() + 20_000;
  while (stdout.length === 0) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await kill();
      throw new Error(`relay did not start; stderr: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    child,
    started: JSON.parse(stdout[0] as string),
    stdout,
    stderr: () => stderr,
    kill,
  };
}

/** Kills (SIGKILL, by pid) every relay process this module started that still runs. */
export async function killRelayProcesses(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
}

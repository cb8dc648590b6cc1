import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { contentCid } from "@canon/core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { LOCK_STALE_MS, LOCK_WAIT_MS, lockPathOf } from "../src/home/file-lock.js";
import { type CanonHome, canonHome, readConfig, updateConfig } from "../src/index.js";

/** Runs the built store in real processes, as concurrent `canon` commands do. */
const WRITER = fileURLToPath(new URL("./fixtures/config-writer.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../dist/index.js", import.meta.url));

const running = new Set<ChildProcess>();
const cleanup: string[] = [];

beforeAll(() => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`pnpm build\` first`);
});

afterEach(async () => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function newHome(): Promise<CanonHome> {
  const root = await mkdtemp(join(tmpdir(), "canon-lock-"));
  cleanup.push(root);
  return canonHome(root);
}

interface Writer {
  readonly child: ChildProcess;
  /** Resolves when the process prints `line`. */
  said(line: string): Promise<void>;
  /** Resolves with the exit code, rejecting with stderr when it is not 0. */
  readonly finished: Promise<void>;
}

function startWriter(home: CanonHome, variables: Record<string, string>): Writer {
  const child = spawn(process.execPath, [WRITER], {
    env: { ...process.env, CANON_HOME: home.root, ...variables },
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.add(child);
  const lines: string[] = [];
  const listeners: (() => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    for (const listener of listeners) listener();
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const finished = new Promise<void>((resolve, reject) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`writer exited ${code ?? signal}: ${stderr}`));
    });
  });
  return {
    child,
    finished,
    said: (line) =>
      new Promise((resolve) => {
        const check = () => {
          if (lines.includes(line)) resolve();
        };
        listeners.push(check);
        check();
      }),
  };
}

describe("config writes from concurrent processes", () => {
  it("keeps every entry when 8 processes each add 10 spaces at once", async () => {
    const home = await newHome();
    const genesis = (await contentCid(new Uint8Array([1]))).toString();
    const writers = Array.from({ length: 8 }, (_, worker) =>
      startWriter(home, { WORKER: String(worker), ENTRIES: "10", GENESIS: genesis }),
    );
    await Promise.all(writers.map((writer) => writer.said("ready")));
    for (const writer of writers) writer.child.stdin?.end("go\n");
    await Promise.all(writers.map((writer) => writer.finished));

    const config = await readConfig(home);
    const expected = writers.flatMap((_, worker) =>
      Array.from({ length: 10 }, (_, entry) => `test://${worker}/${entry}`),
    );
    expect(Object.keys(config.spaces).sort()).toEqual(expected.sort());
  });

  it("takes over the lock a killed process left, within the stale time, and then frees it", async () => {
    const home = await newHome();
    const holder = startWriter(home, { HOLD: "1" });
    await holder.said("ready");
    holder.child.stdin?.end("go\n");
    await holder.said("holding");
    holder.child.kill("SIGKILL");
    await holder.finished.catch(() => {});
    expect((await stat(lockPathOf(home.config))).isDirectory()).toBe(true);

    const started = Date.now();
    await updateConfig(home, (config) => {
      config.defaultSpace = "after the crash";
    });
    const waited = Date.now() - started;

    expect((await readConfig(home)).defaultSpace).toBe("after the crash");
    expect(waited).toBeLessThan(LOCK_WAIT_MS);
    // It waited for the lock to go stale rather than breaking it at once.
    expect(waited).toBeGreaterThan(LOCK_STALE_MS / 2);
    await expect(stat(lockPathOf(home.config))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("leaves a process's own SIGINT handling alone after a config write (canon watch stops gracefully)", async () => {
    const home = await newHome();
    // As `canon watch` does: its handler first, the first config write later.
    const script = `
      import { canonHome, updateConfig } from ${JSON.stringify(BUILT)};
      process.once("SIGINT", () => setTimeout(() => { console.log("stopped gracefully"); process.exit(0); }, 100));
      await updateConfig(canonHome(process.env.CANON_HOME), (config) => { config.defaultSpace = "x"; });
      console.log("written");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, CANON_HOME: home.root },
      stdio: ["ignore", "pipe", "inherit"],
    });
    running.add(child);
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await new Promise<void>((resolve) =>
      child.stdout?.on("data", (chunk) => {
        output += chunk;
        if (output.includes("written")) resolve();
      }),
    );
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    running.delete(child);
    expect(output).toContain("stopped gracefully");
  });
});

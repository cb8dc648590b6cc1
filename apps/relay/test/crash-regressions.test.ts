import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  frame,
  joinMessage,
  rawUpgrade,
  sendMessages,
  syncThroughRelay,
  writeAndWaitForClose,
} from "./helpers/hostile-peer.js";

// The four messages that each killed `canon relay` and `canon serve` before
// the guard (issue 13), sent to the built CLI run as a real process.

const CANON = fileURLToPath(new URL("../../../packages/cli/dist/canon.mjs", import.meta.url));

const running = new Set<ChildProcess>();
const directories: string[] = [];

beforeAll(() => {
  if (!existsSync(CANON)) throw new Error(`${CANON} is missing: run \`pnpm build\` first`);
});

afterEach(async () => {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise((resolve) => {
        child.once("exit", resolve);
        child.kill("SIGKILL");
      });
    }
  }
  running.clear();
  for (const directory of directories.splice(0))
    await rm(directory, { recursive: true, force: true });
});

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  stderr(): string;
}

/** Starts `canon relay` or `canon serve` on a free port of 127.0.0.1 and waits for its JSON line. */
async function startServer(command: "relay" | "serve"): Promise<Served> {
  const home = await mkdtemp(join(tmpdir(), "canon-crash-"));
  directories.push(home);
  const args =
    command === "relay"
      ? ["relay", "--port", "0", "--data", join(home, "relay"), "--json"]
      : ["serve", "--port", "0", "--json"];
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
  );
  const child = spawn(process.execPath, [CANON, ...args], {
    env: { ...environment, CANON_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no JSON line; stderr: ${stderr}`)), 20_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
      if (text.startsWith("{")) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    child.once("exit", () => reject(new Error(`exited before listening; stderr: ${stderr}`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return { child, url, port: Number(new URL(url).port), stderr: () => stderr };
}

/** The four payloads of issue 13, each sent on its own connection. */
async function sendTheFourCrashes(server: Served): Promise<void> {
  // One message of one byte: CBOR null.
  expect(await sendMessages(server.url, [Uint8Array.of(0xf6)])).toBe(1008);
  // A join whose supportedProtocolVersions is not an array.
  expect(
    await sendMessages(server.url, [joinMessage("crash-2", { supportedProtocolVersions: "1" })]),
  ).toBe(1008);
  // An unmasked frame.
  const unmasked = await rawUpgrade(server.port);
  expect(
    await writeAndWaitForClose(unmasked, frame(joinMessage("crash-3"), { masked: false })),
  ).toBe(true);
  // One frame over the payload limit (the header alone declares it).
  const oversized = await rawUpgrade(server.port);
  expect(
    await writeAndWaitForClose(oversized, frame(new Uint8Array(0), { declaredLength: 2 ** 40 })),
  ).toBe(true);
}

describe.each(["relay", "serve"] as const)(
  "canon %s stays up whatever a connection sends",
  (command) => {
    it("survives the four reproduced crashes, logs each on stderr, and still syncs", async () => {
      const server = await startServer(command);
      await sendTheFourCrashes(server);
      await syncThroughRelay(server.url);
      expect(server.child.exitCode).toBe(null);
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(health.status).toBe(200);
      const logged = server
        .stderr()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { event: string; level: string; reason: string });
      expect(logged.filter((entry) => entry.event === "peer-disconnected")).toHaveLength(4);
      expect(logged.every((entry) => entry.level === "warn")).toBe(true);
    });
  },
);

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

/** The built app, run exactly as a deployment runs it. */
const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

/** What the relay prints on stdout once it listens. */
interface Started {
  readonly url: string;
  readonly port: number;
  readonly data: string;
}

/** A `canon-relay` process started by a test. */
interface RelayProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly stdout: string[];
  stderr(): string;
}

const running = new Set<ChildProcess>();
const directories: string[] = [];
const clients: Repo[] = [];

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`pnpm build\` first`);
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.shutdown();
  await Promise.all([...running].map(killAndWait));
  running.clear();
  for (const directory of directories.splice(0)) {
    await rm(directory, { recursive: true, force: true });
  }
});

/** Kills a child by its own pid (child.kill) and waits for it to be gone. */
function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "canon-relay-app-"));
  directories.push(directory);
  return directory;
}

/** Starts the built relay with only the given `CANON_RELAY_*` variables (others from this process are dropped). */
function runRelay(variables: Record<string, string>): RelayProcess {
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
  );
  const child = spawn(process.execPath, [MAIN], {
    env: { ...environment, CANON_RELAY_HOST: "127.0.0.1", ...variables },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  const stdout: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    stdout.push(line);
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  // Resolve only after both pipes are drained, so a test sees everything the process wrote.
  const drained = Promise.all([
    new Promise((resolve) => child.stdout?.once("close", resolve)),
    new Promise((resolve) => child.stderr?.once("close", resolve)),
  ]);
  return {
    child,
    exited: exited.then(async (code) => {
      await drained;
      return code;
    }),
    stdout,
    stderr: () => stderr,
  };
}

/** Starts a relay and waits for its JSON line. */
async function startRelay(
  variables: Record<string, string>,
): Promise<RelayProcess & { started: Started }> {
  const relay = runRelay({ CANON_RELAY_PORT: "0", ...variables });
  const deadline = Date.now() + 20_000;
  while (relay.stdout.length === 0) {
    if (relay.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`relay did not start; stderr: ${relay.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { ...relay, started: JSON.parse(relay.stdout[0] as string) as Started };
}

function healthUrl(port: number, query = ""): string {
  return `http://127.0.0.1:${port}/healthz${query}`;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An automerge-repo client connected to a relay, shut down after the test. */
function clientOf(url: string, name: string): Repo {
  const client = new Repo({ network: [new WebSocketClientAdapter(url)], peerId: name as PeerId });
  clients.push(client);
  return client;
}

describe("canon-relay (the built app as a real process on 127.0.0.1)", () => {
  it("prints its url, port and data directory as one JSON line and serves /healthz", async () => {
    const data = await temporaryDirectory();
    const relay = await startRelay({ CANON_RELAY_DATA: data });
    expect(relay.stdout).toHaveLength(1);
    expect(relay.started).toEqual({
      url: `ws://127.0.0.1:${relay.started.port}`,
      port: expect.any(Number),
      data,
    });
    expect(relay.started.port).toBeGreaterThan(0);

    const response = await fetch(healthUrl(relay.started.port));
    expect(response.status).toBe(200);
    const health = (await response.json()) as Record<string, unknown>;
    expect(health).toEqual({ ok: true, peers: expect.any(Number), documents: expect.any(Number) });
    expect(health.documents).toBe(0);
  });

  it("with CANON_RELAY_TOKEN, refuses a request without the token and accepts it in any of its three forms", async () => {
    const data = await temporaryDirectory();
    const token = "s3cret-token";
    const relay = await startRelay({ CANON_RELAY_DATA: data, CANON_RELAY_TOKEN: token });
    const port = relay.started.port;

    expect((await fetch(healthUrl(port))).status).toBe(401);
    expect((await fetch(healthUrl(port, "?token=wrong"))).status).toBe(401);
    expect((await fetch(healthUrl(port, `?token=${token}`))).status).toBe(200);
    const bearer = await fetch(healthUrl(port), { headers: { authorization: `Bearer ${token}` } });
    expect(bearer.status).toBe(200);
    const header = await fetch(healthUrl(port), { headers: { "x-canon-token": token } });
    expect(header.status).toBe(200);
  });

  it.each(["SIGTERM", "SIGINT"] as const)("exits 0 on %s", async (signal) => {
    const data = await temporaryDirectory();
    const relay = await startRelay({ CANON_RELAY_DATA: data });
    relay.child.kill(signal);
    expect(await relay.exited).toBe(0);
    expect(relay.stderr()).toBe("");
  });

  it("keeps a document a client sent across SIGTERM and a restart", async () => {
    const data = await temporaryDirectory();
    const first = await startRelay({ CANON_RELAY_DATA: data });
    const writer = clientOf(first.started.url, "writer");
    const handle = writer.create<{ note: string }>({ note: "kept" });
    await waitFor(async () => {
      const health = (await (await fetch(healthUrl(first.started.port))).json()) as {
        documents: number;
      };
      return health.documents >= 1;
    });
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const second = await startRelay({ CANON_RELAY_DATA: data });
    const reader = clientOf(second.started.url, "reader");
    const found = await reader.find<{ note: string }>(handle.url);
    expect(found.doc()).toEqual({ note: "kept" });
  });

  it("peers with the relays named in CANON_RELAY_PEERS", async () => {
    const token = "shared-by-the-organisation";
    const first = await startRelay({
      CANON_RELAY_DATA: await temporaryDirectory(),
      CANON_RELAY_TOKEN: token,
    });
    await startRelay({
      CANON_RELAY_DATA: await temporaryDirectory(),
      CANON_RELAY_TOKEN: token,
      CANON_RELAY_PEERS: first.started.url,
    });
    await waitFor(async () => {
      const response = await fetch(healthUrl(first.started.port, `?token=${token}`));
      return ((await response.json()) as { peers: number }).peers === 1;
    });
  });

  it("logs JSON lines on stderr at CANON_RELAY_LOG_LEVEL and enforces CANON_RELAY_* quotas, stdout keeping its one line", async () => {
    const relay = await startRelay({
      CANON_RELAY_DATA: await temporaryDirectory(),
      CANON_RELAY_LOG_LEVEL: "info",
      CANON_RELAY_MAX_DOCUMENT_BYTES: "65536",
    });
    const client = new Repo({
      network: [new WebSocketClientAdapter(relay.started.url, 200)],
      peerId: "quota-client" as PeerId,
    });
    clients.push(client);
    client.create({ text: randomBytes(150_000).toString("base64") });
    const deadline = Date.now() + 10_000;
    // The disconnect is logged just after the quota: wait for both (a loaded machine is slow).
    const logged = () => {
      const text = relay.stderr();
      return text.includes('"quota-exceeded"') && text.includes('"peer-disconnected"');
    };
    while (!logged() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const events = relay
      .stderr()
      .split("\n")
      .filter((line) => line.endsWith("}"))
      .map((line) => JSON.parse(line) as { event: string; quota?: string; peerId?: string });
    expect(events.map((event) => event.event)).toEqual(
      expect.arrayContaining([
        "connection-opened",
        "peer-joined",
        "quota-exceeded",
        "peer-disconnected",
      ]),
    );
    expect(events.find((event) => event.event === "quota-exceeded")).toMatchObject({
      quota: "maxDocumentBytes",
      peerId: "quota-client",
    });
    expect(relay.stdout).toHaveLength(1);
  });

  describe("refuses to start, with one `canon-relay:` line on stderr", () => {
    async function expectRefusal(
      variables: Record<string, string>,
      status: number,
      mentions: RegExp,
    ): Promise<void> {
      const relay = runRelay(variables);
      expect(await relay.exited).toBe(status);
      expect(relay.stdout).toEqual([]);
      const lines = relay.stderr().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[1]).toBe("");
      expect(lines[0]).toMatch(/^canon-relay: /);
      expect(lines[0]).toMatch(mentions);
      expect(lines[0]).not.toMatch(/\bat .*\.js:\d+/);
    }

    it("exits 2 when CANON_RELAY_DATA is missing", async () => {
      await expectRefusal({ CANON_RELAY_PORT: "0" }, 2, /CANON_RELAY_DATA is required/);
    });

    it("exits 2 when CANON_RELAY_PORT is not a number", async () => {
      await expectRefusal(
        { CANON_RELAY_PORT: "abc", CANON_RELAY_DATA: await temporaryDirectory() },
        2,
        /CANON_RELAY_PORT must be a port number .*"abc"/,
      );
    });

    it("exits 2 when CANON_RELAY_PORT is out of range", async () => {
      await expectRefusal(
        { CANON_RELAY_PORT: "70000", CANON_RELAY_DATA: await temporaryDirectory() },
        2,
        /CANON_RELAY_PORT must be a port number between 0 and 65535 .*"70000"/,
      );
    });

    it("exits 2 when a limit is not a whole number of at least 1", async () => {
      await expectRefusal(
        {
          CANON_RELAY_PORT: "0",
          CANON_RELAY_DATA: await temporaryDirectory(),
          CANON_RELAY_MAX_DOCUMENT_BYTES: "0",
        },
        2,
        /CANON_RELAY_MAX_DOCUMENT_BYTES must be a whole number of at least 1, not "0"/,
      );
    });

    it("exits 2 when CANON_RELAY_LOG_LEVEL is not a level", async () => {
      await expectRefusal(
        {
          CANON_RELAY_PORT: "0",
          CANON_RELAY_DATA: await temporaryDirectory(),
          CANON_RELAY_LOG_LEVEL: "loud",
        },
        2,
        /CANON_RELAY_LOG_LEVEL must be one of silent, error, warn, info, debug, not "loud"/,
      );
    });

    it("exits 2 when a peer is not a WebSocket URL", async () => {
      await expectRefusal(
        {
          CANON_RELAY_PORT: "0",
          CANON_RELAY_DATA: await temporaryDirectory(),
          CANON_RELAY_PEERS: "ws://127.0.0.1:1,http://127.0.0.1:2",
        },
        2,
        /CANON_RELAY_PEERS has a bad URL: "http:\/\/127\.0\.0\.1:2" is not a WebSocket URL/,
      );
    });

    it("exits 4 when the port is already in use (a local resource, not bad input)", async () => {
      const relay = await startRelay({ CANON_RELAY_DATA: await temporaryDirectory() });
      await expectRefusal(
        {
          CANON_RELAY_PORT: String(relay.started.port),
          CANON_RELAY_DATA: await temporaryDirectory(),
        },
        4,
        /already in use/,
      );
    });

    it("exits 4 when the data directory cannot be written", async () => {
      // A path under a regular file cannot be created even by root, unlike a chmod'ed directory.
      const file = join(await temporaryDirectory(), "not-a-directory");
      await writeFile(file, "");
      await expectRefusal(
        { CANON_RELAY_PORT: "0", CANON_RELAY_DATA: join(file, "data") },
        4,
        /cannot write to .*not-a-directory/,
      );
    });
  });
});

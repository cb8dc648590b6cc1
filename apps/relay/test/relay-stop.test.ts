import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { FileStorage } from "@canon/store";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startRelayServer } from "../src/relay-server.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every file under `directory`, with its size and modification time. */
async function tree(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    files.push(`${path} ${info.size} ${info.mtimeMs}`);
  }
  return files.sort();
}

describe("stopping a relay", () => {
  it("returns only once the writes automerge-repo scheduled on its own have landed", async () => {
    // A peer's sync state is saved throttled (up to 100 ms after its last
    // message): it used to land after stop() returned, in a folder the caller
    // had removed meanwhile (an unhandled ENOENT). Several rounds, each
    // stopping right after the client's last change reached the relay.
    for (let round = 0; round < 3; round += 1) {
      const directory = await mkdtemp(join(tmpdir(), "canon-relay-stop-"));
      cleanups.push(() => rm(directory, { recursive: true, force: true, maxRetries: 5 }));
      const relay = await startRelayServer({ storageDirectory: directory, port: 0 });
      // A client with storage (as every Canon home has): the relay keeps sync states only for those.
      const clientDirectory = await mkdtemp(join(tmpdir(), "canon-relay-stop-client-"));
      cleanups.push(() => rm(clientDirectory, { recursive: true, force: true, maxRetries: 5 }));
      const client = new Repo({
        storage: new FileStorage(clientDirectory),
        // Retries slower than the test runs: no reconnect to the stopping relay.
        network: [new WebSocketClientAdapter(relay.url, 60_000)],
        peerId: `stop-${randomBytes(3).toString("hex")}` as PeerId,
      });
      let clientOpen = true;
      const closeClient = async () => {
        if (!clientOpen) return;
        clientOpen = false;
        await client.shutdown().catch(() => undefined);
      };
      cleanups.push(closeClient);
      const handle = client.create<{ count: number }>({ count: 0 });
      for (let change = 1; change <= 5; change += 1) {
        handle.change((doc) => {
          doc.count = change;
        });
        await expect
          .poll(
            () =>
              relay.repo.handles[handle.documentId]?.isReady() === true &&
              (relay.repo.handles[handle.documentId]?.doc() as { count?: number } | undefined)
                ?.count,
            { timeout: 10_000, interval: 5 },
          )
          .toBe(change);
      }
      await relay.stop();
      await closeClient();
      const after = await tree(directory);
      expect(after.some((file) => file.includes("sync-state"))).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await tree(directory)).toEqual(after);
    }
  }, 60_000);

  it("refuses new connections while it stops, rather than answering them 503 (automerge-repo's client throws on a 503, uncaught)", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-stop-"));
    cleanups.push(() => rm(directory, { recursive: true, force: true, maxRetries: 5 }));
    const relay = await startRelayServer({ storageDirectory: directory, port: 0 });
    const answers: string[] = [];
    const stopping = relay.stop();
    let done = false;
    void stopping.then(() => {
      done = true;
    });
    // Connection attempts while it stops (its writes settle for 200 ms or more).
    while (!done) {
      answers.push(
        await new Promise<string>((resolve) => {
          const socket = new WebSocket(relay.url);
          socket.on("unexpected-response", (_request, response) => {
            resolve(`HTTP ${response.statusCode}`);
            socket.terminate();
          });
          socket.on("open", () => {
            resolve("open");
            socket.terminate();
          });
          socket.on("error", (error: NodeJS.ErrnoException) =>
            resolve(error.code ?? error.message),
          );
        }),
      );
    }
    await stopping;
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((answer) => answer === "ECONNREFUSED")).toBe(true);
  });
});

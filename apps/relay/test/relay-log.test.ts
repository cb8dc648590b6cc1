import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createRelayLog, startRelayServer } from "../src/index.js";
import { MAX_LOGGED_TEXT } from "../src/relay-log.js";

// Sixth pass: a peer's map key (a `newHeads` storage id) went into the
// refusal's reason whole: one bad message of 100 KB made a log line of
// 100 KB, carrying whatever the peer wrote. JSON escapes a newline and ESC,
// but not the C1 controls (U+009B starts an escape sequence on some
// terminals), the line separators U+2028/9, nor the bidirectional controls.

/** Every character a terminal or a viewer may act on, beyond what JSON.stringify escapes. */
const HOSTILE = "\u009b31m\u2028\u2029\u202e\u2066\u007f";

describe("the relay's log", () => {
  it("writes C1, separator and bidirectional controls as escapes, and cuts long text", () => {
    const lines: string[] = [];
    const log = createRelayLog("warn", (line) => lines.push(line));
    log.write("warn", "peer-disconnected", { reason: `${HOSTILE}\n\u001b[2J${"x".repeat(5000)}` });
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? "";
    expect(line.endsWith("\n")).toBe(true);
    const acted = [...line.slice(0, -1)].filter((character) => {
      const code = character.charCodeAt(0);
      return (
        code < 0x20 ||
        (code >= 0x7f && code <= 0x9f) ||
        code === 0x2028 ||
        code === 0x2029 ||
        (code >= 0x202a && code <= 0x202e) ||
        (code >= 0x2066 && code <= 0x2069)
      );
    });
    expect(acted).toEqual([]);
    expect(line.length).toBeLessThan(MAX_LOGGED_TEXT + 300);
    const parsed = JSON.parse(line) as { reason: string };
    expect(parsed.reason.startsWith(`${HOSTILE}\n\u001b[2J`)).toBe(true);
    expect(parsed.reason).toMatch(/… \(5\d{3} characters\)$/);
  });

  it("logs a peer's bad map key by its length, not its text, on a real relay", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-log-"));
    const lines: string[] = [];
    const server = await startRelayServer({
      storageDirectory: directory,
      port: 0,
      host: "127.0.0.1",
      log: createRelayLog("warn", (line) => lines.push(line)),
    });
    try {
      const socket = new WebSocket(server.url);
      await new Promise((resolve, reject) => {
        socket.once("open", resolve);
        socket.once("error", reject);
      });
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.send(
        cbor.encode({ type: "join", senderId: "log-peer", supportedProtocolVersions: ["1"] }),
      );
      const key = `INJECTED${HOSTILE}\n${"k".repeat(100_000)}`;
      socket.send(
        cbor.encode({
          type: "remote-heads-changed",
          senderId: "log-peer",
          targetId: "anyone",
          documentId: parseAutomergeUrl(generateAutomergeUrl()).documentId,
          newHeads: { [key]: { heads: [], timestamp: 1 } },
        }),
      );
      await closed;
      const refused = lines.find((line) => line.includes('"event":"peer-disconnected"'));
      expect(refused).toBeDefined();
      expect(refused).not.toContain("INJECTED");
      expect(refused?.length).toBeLessThan(1000);
      expect(JSON.parse(refused ?? "{}").reason).toMatch(/newHeads\.\(a key of \d+ characters\)/);
    } finally {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

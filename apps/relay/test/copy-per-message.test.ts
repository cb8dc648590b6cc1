import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { eventually } from "./helpers/hostile-peer.js";
import { killRelayProcesses, startRelayProcess } from "./helpers/relay-process.js";

// Every sync message carrying changes is tried on a copy of its document, and
// copying a document costs in proportion to the document, not the message:
// measured on the relay, 112 bytes of change to a 20 MB document of 20,000
// records cost over a second, so ten of them (1 KB) kept `/healthz` waiting 16 s.
// Reading a change's ops costs about 0.4 µs a byte of its values (10 s for a
// 25 MB one), even when the change is refused right after (a document over
// its size limit): a peer reconnecting and sending it again cost the relay that
// each time. The time the checks of one address take is now a budget of its own.

const directories: string[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await killRelayProcesses();
  for (const directory of directories.splice(0))
    await rm(directory, { recursive: true, force: true });
});

const OPENING = A.decodeSyncMessage(
  A.generateSyncMessage(A.init(), A.initSyncState())[1] as Uint8Array,
);

/** A raw peer joined to the relay at `url` from `localAddress`, keeping what the relay sends it. */
async function rawPeer(url: string, peerId: string, localAddress: string) {
  const socket = new WebSocket(url, { localAddress });
  sockets.push(socket);
  const received: { type: string; senderId: string; documentId?: string }[] = [];
  socket.on("message", (raw: Buffer) => received.push(cbor.decode(new Uint8Array(raw)) as never));
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("open", resolve));
  socket.send(
    cbor.encode({
      type: "join",
      senderId: peerId,
      peerMetadata: { isEphemeral: true },
      supportedProtocolVersions: ["1"],
    }),
  );
  await eventually(() => received.some((message) => message.type === "peer"));
  const relayId = received.find((message) => message.type === "peer")?.senderId;
  const sync = (documentId: string, heads: A.Heads, changes: Uint8Array[]) =>
    socket.send(
      cbor.encode({
        type: "sync",
        senderId: peerId,
        targetId: relayId,
        documentId,
        data: A.encodeSyncMessage({ ...OPENING, heads, changes }),
      }),
    );
  return { socket, received, sync };
}

const newDocumentId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId;

describe("checking changes on a copy of a large document", () => {
  it("makes an address whose checks took more than its budget wait, while another address is served", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-copies-"));
    directories.push(directory);
    const relay = await startRelayProcess({
      CANON_RELAY_DATA: directory,
      CANON_RELAY_LOG_LEVEL: "info",
      // 1 ms a second: the first check of a 4 MB document spends more than a minute's worth.
      CANON_RELAY_CHECK_MILLIS_PER_MINUTE: "60",
    });
    const url = relay.started.url;

    // The attacker writes a document of 4,000 records (4 MB), then tiny changes to it.
    const attacker = await rawPeer(url, "attacker-peer", "127.0.0.1");
    const target = newDocumentId();
    const backend = A.getBackend(A.init());
    const records = backend.putObject("_root", "records", {});
    const bulk: Uint8Array[] = [];
    for (let batch = 0; batch < 4; batch++) {
      for (let i = 0; i < 1000; i++)
        backend.put(records, `r${batch}-${i}`, new Uint8Array(randomBytes(1000)), "bytes");
      backend.commit(`batch ${batch}`);
      bulk.push(backend.getLastLocalChange() as Uint8Array);
    }
    attacker.sync(target, backend.getHeads(), bulk);
    await eventually(() => attacker.received.some((m) => m.documentId === target), 30_000);
    for (let i = 0; i < 20; i++) {
      backend.put(records, `small-${i}`, new Uint8Array([i]), "bytes");
      backend.commit(`small ${i}`);
      attacker.sync(target, backend.getHeads(), [backend.getLastLocalChange() as Uint8Array]);
    }
    await eventually(() => relay.stderr().includes('"event":"checks-delayed"'), 20_000);
    const delayed = relay
      .stderr()
      .split("\n")
      .filter((line) => line.includes('"checks-delayed"'))
      .map((line) => JSON.parse(line) as { peerId: string; waitMs: number; limit: number });
    expect(delayed[0]).toMatchObject({ peerId: "attacker-peer", limit: 60 });
    expect(delayed[0]?.waitMs).toBeGreaterThan(1000);

    // Another address writes a document of its own meanwhile: checked and answered.
    const other = await rawPeer(url, "other-peer", "127.0.0.2");
    const own = newDocumentId();
    const small = A.from({ text: "hello" });
    other.sync(own, A.getHeads(small), [A.save(small)]);
    await eventually(() => other.received.some((m) => m.documentId === own), 20_000);
    expect((await fetch(`${url.replace("ws:", "http:")}/healthz`)).status).toBe(200);
    // The attacker is still waiting for its turn: at most its first small change was checked.
    expect(relay.stderr().match(/"checks-delayed"/g)?.length ?? 0).toBeLessThanOrEqual(2);
  }, 90_000);

  it("counts the time reading a refused change took: the same address's next connection waits", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-copies-"));
    directories.push(directory);
    const relay = await startRelayProcess({
      CANON_RELAY_DATA: directory,
      CANON_RELAY_LOG_LEVEL: "info",
      CANON_RELAY_MAX_DOCUMENT_BYTES: String(1024 * 1024),
      CANON_RELAY_CHECK_MILLIS_PER_MINUTE: "60",
    });
    const url = relay.started.url;
    const backend = A.getBackend(A.init());
    backend.put("_root", "big", new Uint8Array(randomBytes(4 * 1024 * 1024)), "bytes");
    backend.commit("big");
    const change = backend.getLastLocalChange() as Uint8Array;
    const target = newDocumentId();
    const first = await rawPeer(url, "attacker-one", "127.0.0.1");
    first.sync(target, backend.getHeads(), [change]);
    await eventually(() => relay.stderr().includes('"quota":"maxDocumentBytes"'), 30_000);
    await eventually(() => first.socket.readyState === WebSocket.CLOSED, 10_000);
    // Again, from the same address: its join waits for its turn before anything is read.
    const second = new WebSocket(url, { localAddress: "127.0.0.1" });
    sockets.push(second);
    second.on("error", () => {});
    await new Promise((resolve) => second.once("open", resolve));
    second.send(
      cbor.encode({
        type: "join",
        senderId: "attacker-two",
        peerMetadata: { isEphemeral: true },
        supportedProtocolVersions: ["1"],
      }),
    );
    await eventually(() => relay.stderr().includes('"event":"checks-delayed"'), 20_000);
    const delayed = relay
      .stderr()
      .split("\n")
      .find((line) => line.includes('"checks-delayed"'));
    expect(JSON.parse(delayed ?? "{}")).toMatchObject({
      remoteAddress: expect.stringMatching(/^127\.0\.0\.1:/),
    });
  }, 90_000);
});

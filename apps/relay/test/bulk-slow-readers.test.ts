import { randomBytes } from "node:crypto";
import { type ClientRequest, get, type IncomingMessage } from "node:http";
import { readDocumentFrames } from "@canon/store";
import { afterEach, describe, expect, it } from "vitest";
import type { RelayServer } from "../src/relay-server.js";
import { acknowledged, relayTestKit, waitFor } from "./helpers/relay-test-kit.js";

// `GET /documents/<space>` streams a whole space, two answers at a time.
// A client that asks and never reads (or asks many times at once) must not
// keep everyone else from theirs. Every client here is a real HTTP client on
// 127.0.0.0/8: the attacker's requests come from 127.0.0.2, others' from
// other addresses of the loopback network.

const kit = relayTestKit("canon-bulk-slow");

const MIB = 1024 * 1024;

/**
 * A space routing to four documents of 5 MiB of random bytes each, stored
 * by the relay: an answer of 20 MiB, more than the loopback socket buffers
 * take from a client that does not read.
 */
async function largeSpace(relay: RelayServer): Promise<string> {
  const writer = kit.client(relay);
  const standards = [1, 2, 3, 4].map(() =>
    writer.create<{ bytes: Uint8Array }>({ bytes: new Uint8Array(randomBytes(5 * MIB)) }),
  );
  const space = writer.create({
    standards: Object.fromEntries(standards.map((handle) => [handle.documentId, "x"])),
  });
  await waitFor(
    () => [space, ...standards].every((handle) => acknowledged(writer, handle as never)),
    60_000,
  );
  return space.documentId;
}

/** Requests opened by {@link askAndStall}, destroyed after each test. */
const opened: ClientRequest[] = [];
afterEach(() => {
  for (const request of opened.splice(0)) request.destroy();
});

/** What {@link askAndStall} got: the status, the paused response, and how it will end. */
interface Stalled {
  readonly status: number | undefined;
  readonly response: IncomingMessage;
  readonly closed: Promise<"cut" | "ended">;
}

/** Asks for the bulk answer from `localAddress` and reads nothing past the status line. */
function askAndStall(relay: RelayServer, spaceId: string, localAddress: string): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const request = get({
      host: "127.0.0.1",
      port: relay.port,
      path: `/documents/${spaceId}`,
      localAddress,
    });
    opened.push(request);
    request.on("error", reject);
    request.on("response", (response: IncomingMessage) => {
      response.pause();
      resolve({ status: response.statusCode, response, closed: endOf(response) });
    });
  });
}

/** Whether `response` ended (every byte came) or was cut off by the relay. */
function endOf(response: IncomingMessage): Promise<"cut" | "ended"> {
  return new Promise((resolve) => {
    response.on("end", () => resolve("ended"));
    response.on("aborted", () => resolve("cut"));
    response.on("error", () => resolve("cut"));
    response.on("close", () => resolve(response.complete ? "ended" : "cut"));
  });
}

/** `GET /documents/<space>` from 127.0.0.1, read to its end: status and number of frames. */
async function readWhole(relay: RelayServer, spaceId: string) {
  const response = await fetch(`http://127.0.0.1:${relay.port}/documents/${spaceId}`);
  if (!response.ok || response.body === null) return { status: response.status, frames: 0 };
  const reading = readDocumentFrames(response.body, {
    maxDocumentBytes: 64 * MIB,
    maxTotalBytes: 256 * MIB,
  });
  let frames = 0;
  for (;;) {
    const next = await reading.next();
    if (next.done === true) return { status: response.status, frames, refused: next.value };
    frames += 1;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("GET /documents/<space> with slow readers", () => {
  it("gives one address one answer at a time, so another client still gets its own", async () => {
    const relay = await kit.relay("directory");
    const spaceId = await largeSpace(relay);
    // The attacker asks forty times at once and reads none of it.
    const stalled = await Promise.all(
      Array.from({ length: 40 }, () =>
        askAndStall(relay, spaceId, "127.0.0.2").catch(() => undefined),
      ).map((asked) => Promise.race([asked, sleep(3000).then(() => undefined)])),
    );
    const statuses = stalled.map((asked) => asked?.status);
    // One answer is the attacker's; every other request of its address is refused at once.
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 503)).toHaveLength(39);
    // Someone else asking meanwhile is answered, whole.
    const answer = await readWhole(relay, spaceId);
    expect(answer).toMatchObject({ status: 200, frames: 5, refused: undefined });
  }, 120_000);

  it("cuts off a reader that stopped, and keeps one that pauses but goes on", async () => {
    const relay = await kit.relay("directory");
    const spaceId = await largeSpace(relay);
    const staller = await askAndStall(relay, spaceId, "127.0.0.2");
    const pauser = await askAndStall(relay, spaceId, "127.0.0.3");
    expect([staller.status, pauser.status]).toEqual([200, 200]);
    // The pauser reads a little after 7 s (less than the stall limit), then pauses again.
    await sleep(7000);
    pauser.response.resume();
    await sleep(50);
    pauser.response.pause();
    // The staller has not read for 12 s: when it reads again, the relay has cut it off
    // (a paused socket only notices when it reads).
    await sleep(5000);
    staller.response.resume();
    expect(await Promise.race([staller.closed, sleep(10_000).then(() => "still open")])).toBe(
      "cut",
    );
    // The pauser, after 7 s more, reads the answer to its end.
    await sleep(2000);
    pauser.response.resume();
    expect(await pauser.closed).toBe("ended");
  }, 120_000);
});

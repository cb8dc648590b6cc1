import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import {
  type AutomergeUrl,
  cbor,
  type Message,
  type PeerId,
  Repo,
} from "@automerge/automerge-repo";
import { RelayClient } from "@canon/store";
import WebSocket from "ws";
import type { RelayTokens } from "../../src/access/relay-tokens.js";
import { parseTokensFile } from "../../src/access/tokens-file.js";

/** A WebSocket frame, built by hand so a test can break the rules `ws` would not let it break. */
export function frame(
  payload: Uint8Array,
  options: { masked?: boolean; opcode?: number; declaredLength?: number } = {},
): Buffer {
  const masked = options.masked ?? true;
  const length = options.declaredLength ?? payload.byteLength;
  const head: number[] = [0x80 | (options.opcode ?? 0x2)];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 65_536) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    head.push(maskBit | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(...big);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((byte, index) => byte ^ (mask[index % 4] as number)));
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/** A TCP socket on which a WebSocket upgrade to `port` succeeded; frames are then written raw. */
export function rawUpgrade(port: number, query = ""): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setTimeout(5000, () => socket.destroy(new Error("upgrade timed out")));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.write(
        `GET /${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let answer = "";
    const onData = (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      if (!answer.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      socket.setTimeout(0);
      if (answer.startsWith("HTTP/1.1 101")) resolve(socket);
      else reject(new Error(`upgrade refused: ${answer.split("\r\n")[0]}`));
    };
    socket.on("data", onData);
  });
}

/** Writes `bytes` on a raw socket, then resolves when the relay closes it (or after `timeoutMs`). */
export function writeAndWaitForClose(
  socket: Socket,
  bytes: Buffer,
  timeoutMs = 3000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.write(bytes);
  });
}

/**
 * Opens a WebSocket to `url`, sends each message in order, and resolves with
 * the close code the relay answers with (or undefined if it kept the socket
 * open for `timeoutMs`).
 */
export function sendMessages(
  url: string,
  messages: readonly Uint8Array[],
  timeoutMs = 3000,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      socket.terminate();
      resolve(undefined);
    }, timeoutMs);
    socket.on("error", () => {});
    socket.on("open", () => {
      for (const message of messages) socket.send(message);
    });
    socket.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A join message as automerge-repo's client sends it. */
export function joinMessage(senderId: string, extra: Record<string, unknown> = {}): Uint8Array {
  return cbor.encode({
    type: "join",
    senderId,
    peerMetadata: { isEphemeral: true },
    supportedProtocolVersions: ["1"],
    ...extra,
  });
}

/** Canon's relay client that also keeps every message it sends, CBOR-encoded as on the wire. */
export class RecordingClient extends RelayClient {
  /** The binary messages sent so far. */
  readonly sent: Uint8Array[] = [];

  override send(message: Message): void {
    this.sent.push(new Uint8Array(cbor.encode(message)));
    super.send(message);
  }
}

/** A client Repo with no storage, connected to `url` through a {@link RecordingClient}. */
export function clientRepo(url: string): { repo: Repo; client: RecordingClient } {
  const client = new RecordingClient(url, 500);
  const repo = new Repo({
    network: [client],
    peerId: `test-${Math.random().toString(36).slice(2, 10)}` as PeerId,
  });
  return { repo, client };
}

/** Resolves `check()` once it is true, or rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Proves the relay at `url` still serves: one client creates a document and
 * syncs it to the relay, a second fresh client fetches it through the relay.
 * Returns the document's URL.
 */
export async function syncThroughRelay(url: string, text = "hello"): Promise<AutomergeUrl> {
  const writer = clientRepo(url);
  try {
    const handle = writer.repo.create({ text });
    // The relay fetches nothing on a reader's behalf, so ask until the
    // writer's sync has reached it (about 100 ms), with a fresh reader each time.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const reader = clientRepo(url);
      try {
        const found = await withTimeout(reader.repo.find<{ text: string }>(handle.url), 3000);
        if (found.doc().text !== text) throw new Error("the document arrived changed");
        return handle.url;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      } finally {
        await reader.repo.shutdown();
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await writer.repo.shutdown();
  }
}

/** Fetches `url` through the relay with a fresh client; resolves with the document. */
export async function fetchThroughRelay<T>(
  relayUrl: string,
  url: AutomergeUrl,
  timeoutMs = 5000,
): Promise<T> {
  const reader = clientRepo(relayUrl);
  try {
    return (await withTimeout(reader.repo.find<T>(url), timeoutMs)).doc();
  } finally {
    await reader.repo.shutdown();
  }
}

/** `promise`, or a rejection after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The space tokens of a relay serving two spaces, `alpha` and `beta` (their
 * document ids), each writable with its own token (`alpha-token-0123456789`,
 * `beta-token-0123456789`), as a tokens file names them; `admin` is the
 * relay's own token.
 */
export function twoSpacesTokens(alpha: string, beta: string, admin: string): RelayTokens {
  return parseTokensFile(
    JSON.stringify({
      spaces: {
        [alpha]: { write: ["alpha-token-0123456789"] },
        [beta]: { write: ["beta-token-0123456789"] },
      },
    }),
    "tokens.json",
    admin,
  );
}

import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { MAX_CONNECTIONS_PER_ADDRESS } from "../src/guard/address-connections.js";
import {
  killRelayProcesses,
  type RelayProcess,
  startRelayProcess,
} from "./helpers/relay-process.js";

// Raw HTTP requests to the built relay, run as a real process: request
// targets no URL can be read from, methods other than GET, and bodies. Each
// must be answered (or the socket closed) and the relay stay up for
// everyone: one upgrade request to `//[` used to end the process.

const directories: string[] = [];
afterEach(async () => {
  await killRelayProcesses();
  for (const directory of directories.splice(0))
    await rm(directory, { recursive: true, force: true });
});

async function relay(variables: Record<string, string> = {}): Promise<RelayProcess> {
  const data = await mkdtemp(join(tmpdir(), "canon-relay-http-"));
  directories.push(data);
  return startRelayProcess({ CANON_RELAY_DATA: data, ...variables });
}

/** Sends `raw` bytes on a new connection; resolves with the status line the relay answered, or why there was none. */
function send(port: number, raw: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(raw));
    let answer = "";
    const done = (why: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer.split("\r\n")[0] || why);
    };
    const timer = setTimeout(() => done("no answer"), 5000);
    socket.on("data", (chunk) => {
      answer += chunk;
      if (answer.includes("\r\n")) done("");
    });
    socket.on("error", (error) => done(`error ${(error as NodeJS.ErrnoException).code}`));
    socket.on("close", () => done("closed"));
  });
}

const upgrade = (target: string, extra = "") =>
  `GET ${target} HTTP/1.1\r\nHost: relay\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
const plain = (method: string, target: string, extra = "") =>
  `${method} ${target} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n${extra}\r\n`;

/** `/healthz`'s status, with the token when the relay has one. */
async function healthy(port: number, variables: Record<string, string>): Promise<number> {
  const token = variables.CANON_RELAY_TOKEN;
  const query = token === undefined ? "" : `?token=${token}`;
  return (await fetch(`http://127.0.0.1:${port}/healthz${query}`)).status;
}

describe.each([
  ["an open relay", {}],
  ["a relay with a token", { CANON_RELAY_TOKEN: "s3cret" }],
] as [string, Record<string, string>][])("raw HTTP requests to %s", (_name, variables) => {
  it("answers a target no URL can be read from with 400, upgrade or not, and stays up", async () => {
    const started = await relay(variables);
    const { port } = started.started;
    for (const target of ["//[", "http://[", "//%zz", "//:99999/", "//a:b@[::1/heads/x"]) {
      expect(await send(port, upgrade(target))).toBe("HTTP/1.1 400 Bad Request");
      expect(await send(port, plain("GET", target))).toBe("HTTP/1.1 400 Bad Request");
    }
    expect(started.child.exitCode).toBeNull();
    expect(await healthy(port, variables)).toBe(200);
  });

  it("refuses every method but GET with 405, before storage is read, bodies or not", async () => {
    const started = await relay(variables);
    const { port } = started.started;
    const token = "token" in variables ? "?token=s3cret" : "";
    for (const method of ["HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
      for (const path of [
        "/healthz",
        "/metrics",
        "/heads/2PHnaDJm1NpmZXNrsWGXPQayrdZM",
        "/documents/2PHnaDJm1NpmZXNrsWGXPQayrdZM",
      ])
        expect(await send(port, plain(method, `${path}${token}`))).toBe(
          "HTTP/1.1 405 Method Not Allowed",
        );
    // A body announced as 1 GiB, and one chunked without end: refused at once, never read.
    expect(
      await send(port, plain("POST", `/healthz${token}`, "Content-Length: 1073741824\r\n")),
    ).toBe("HTTP/1.1 405 Method Not Allowed");
    expect(
      await send(
        port,
        `${plain("POST", `/heads/x${token}`, "Transfer-Encoding: chunked\r\n")}ffffff\r\n${"x".repeat(65536)}`,
      ),
    ).toBe("HTTP/1.1 405 Method Not Allowed");
    expect(started.child.exitCode).toBeNull();
    expect(await healthy(port, variables)).toBe(200);
  });

  it("survives odd paths, queries and headers", async () => {
    const started = await relay(variables);
    const { port } = started.started;
    const token = "token" in variables ? "token=s3cret" : "";
    const answers = new Set<string>();
    for (const target of [
      "/heads/",
      "/heads/..%2F..%2Fetc",
      `/heads/${"A".repeat(101)}`,
      "/documents//x",
      `/heads/x?${token}&token=other`,
      `/heads/x?token=%ZZ&${token}`,
      `/healthz?${"a=1&".repeat(2000)}${token}`,
      "*",
      "/\u00e9",
    ])
      answers.add(await send(port, plain("GET", target)));
    // Headers past Node's limit, and many small ones.
    answers.add(
      await send(port, plain("GET", `/healthz?${token}`, `X-Big: ${"x".repeat(20_000)}\r\n`)),
    );
    answers.add(await send(port, plain("GET", `/healthz?${token}`, "X-A: 1\r\n".repeat(3000))));
    answers.add(await send(port, plain("GET", `/healthz?${token}`, "Authorization: Bearer\r\n")));
    answers.add(await send(port, plain("GET", `/healthz?${token}`, "If-None-Match: \r\n")));
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 [2-5]\d\d |^closed$/);
    expect([...answers].some((answer) => answer.startsWith("HTTP/1.1 500"))).toBe(false);
    expect(started.child.exitCode).toBeNull();
    expect(await healthy(port, variables)).toBe(200);
  });
});

describe("a client sending its headers a byte at a time", () => {
  it("is answered 408 and closed within the 10 s headers timeout, not Node's 60 s", async () => {
    const started = await relay();
    const { port } = started.started;
    const closed = await new Promise<{ answer: string; ms: number }>((resolve) => {
      const begun = Date.now();
      const socket = connect(port, "127.0.0.1");
      let answer = "";
      const drip = setInterval(() => socket.write("X-Slow: 1\r\n"), 1000);
      socket.on("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: relay\r\n"));
      socket.on("data", (chunk) => {
        answer += chunk;
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(drip);
        resolve({ answer: answer.split("\r\n")[0] ?? "", ms: Date.now() - begun });
      });
    });
    expect(closed.answer).toBe("HTTP/1.1 408 Request Timeout");
    // Node checks the timeout every second or so.
    expect(closed.ms).toBeLessThan(25_000);
    expect(await healthy(port, {})).toBe(200);
  }, 60_000);
});

describe("one address opening connections without end", () => {
  it(`holds at most ${MAX_CONNECTIONS_PER_ADDRESS} at once; others, and its own once one closes, still connect`, async () => {
    const started = await relay();
    const { port } = started.started;
    const url = `ws://127.0.0.1:${port}`;
    /** Opens a WebSocket from `localAddress`: the socket once open, or the HTTP status it was refused with. */
    const open = (localAddress: string) =>
      new Promise<WebSocket | number>((resolve, reject) => {
        const socket = new WebSocket(url, { localAddress });
        socket.once("open", () => resolve(socket));
        socket.once("unexpected-response", (_request, response) =>
          resolve(response.statusCode ?? 0),
        );
        socket.once("error", reject);
      });
    const held: WebSocket[] = [];
    try {
      for (let index = 0; index < MAX_CONNECTIONS_PER_ADDRESS; index++) {
        const socket = await open("127.0.0.2");
        if (typeof socket === "number") throw new Error(`connection ${index} refused: ${socket}`);
        held.push(socket);
      }
      expect(await open("127.0.0.2")).toBe(503);
      const other = await open("127.0.0.3");
      expect(other).toBeInstanceOf(WebSocket);
      (other as WebSocket).terminate();
      // One of the attacker's closes: its place is free again.
      const first = held.shift() as WebSocket;
      await new Promise((resolve) => {
        first.once("close", resolve);
        first.terminate();
      });
      await waitUntil(async () => {
        const again = await open("127.0.0.2");
        if (typeof again === "number") return false;
        held.push(again);
        return true;
      });
      expect(started.child.exitCode).toBeNull();
    } finally {
      for (const socket of held) socket.terminate();
    }
  }, 60_000);
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

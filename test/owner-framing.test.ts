import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OwnerHomes, ownerHomes, until } from "./helpers/owner-homes.js";

// How the owner reads its socket, whatever a client's writes look like: a raw
// `net` client in place of the thin client, which sends its request line and
// `go` apart. See docs/decisions/2026-11-29-home-owner.md ("Reading the socket").

let dir: string;
let homes: OwnerHomes;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-owner-framing-"));
  homes = ownerHomes(dir);
});
afterAll(async () => {
  homes.killOwners();
  await rm(dir, { recursive: true, force: true });
});

const request = (argv: string[]) =>
  `${JSON.stringify({ v: 1, version: "0.1.0", op: "run", argv, cwd: dir })}\n`;

interface Frame {
  t: string;
  d?: string;
  code?: number;
  reason?: string;
}

/** A raw connection to a home's owner: what it was sent, how, and every frame it answered until it closed. */
function exchange(
  home: string,
  send: (socket: Socket) => Promise<void>,
): Promise<{ frames: Frame[]; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(home, "owner.sock"));
    const began = Date.now();
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk;
    });
    const done = () =>
      resolve({
        frames: received
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line) as Frame),
        closedAfterMs: Date.now() - began,
      });
    socket.on("close", done);
    socket.on("error", () => {});
    socket.on("connect", () => void send(socket).catch(reject));
  });
}

const write = (socket: Socket, bytes: string | Buffer) =>
  new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function versionsOf(home: string): Promise<number[]> {
  const log = JSON.parse(
    (await homes.ok(home, ["log", "s", "--json"], { CANON_NO_OWNER: "1" })).stdout,
  );
  const entries = (Array.isArray(log) ? log : (log.entries ?? log.releases)) as {
    version: number;
  }[];
  return entries.map(({ version }) => version).sort();
}

describe("the owner reads its socket whatever the split of the writes", () => {
  let home: string;
  let owner: ChildProcess;
  beforeAll(async () => {
    ({ home } = await homes.homeWithSpace("framing"));
  });

  it("a request line and go in one write run the command", async () => {
    owner = await homes.startOwner(home);
    const file = join(dir, "one-write.md");
    await writeFile(file, "sent in one write\n");
    const { frames } = await exchange(home, (socket) =>
      write(socket, `${request(["publish", "s", file])}go\n`),
    );
    expect(frames[0]).toMatchObject({ t: "accepted" });
    expect(frames.at(-1), JSON.stringify(frames)).toEqual({ t: "exit", code: 0 });
    expect(await versionsOf(home)).toEqual([1, 2]);
  });

  it("a request sent byte by byte, then go, runs the command", async () => {
    const file = join(dir, "byte-by-byte.md");
    await writeFile(file, "sent byte by byte ✓\n");
    const { frames } = await exchange(home, async (socket) => {
      // The check mark is three bytes in UTF-8: cut between writes, it is whole again in its line.
      for (const byte of Buffer.from(`${request(["publish", "s", file, "-m", "✓"])}go\n`)) {
        await write(socket, Buffer.from([byte]));
        await pause(1);
      }
    });
    expect(frames.at(-1), JSON.stringify(frames)).toEqual({ t: "exit", code: 0 });
    expect(await versionsOf(home)).toEqual([1, 2, 3]);
  });

  it("two requests' worth in one write run the first only, saying the rest was ignored", async () => {
    const first = join(dir, "first.md");
    const second = join(dir, "second.md");
    await writeFile(first, "the first request\n");
    await writeFile(second, "the second request\n");
    const { frames } = await exchange(home, (socket) =>
      write(
        socket,
        `${request(["publish", "s", first])}go\n${request(["publish", "s", second])}go\n`,
      ),
    );
    expect(frames.at(-1), JSON.stringify(frames)).toEqual({ t: "exit", code: 0 });
    expect(frames.filter((frame) => frame.t === "accepted")).toHaveLength(1);
    expect(
      frames.some((frame) => frame.t === "err" && /one request per connection/.test(frame.d ?? "")),
    ).toBe(true);
    expect(await versionsOf(home)).toEqual([1, 2, 3, 4]);
    const shown = await homes.ok(home, ["show", "s"], { CANON_NO_OWNER: "1" });
    expect(shown.stdout).toBe("the first request\n");
  });

  it("refuses binary, a line too long and a silent client with a reason, and serves others meanwhile", async () => {
    const binary = await exchange(home, (socket) =>
      write(
        socket,
        Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3]), randomBytes(64), Buffer.from("\n")]),
      ),
    );
    expect(binary.frames).toEqual([{ t: "refused", reason: expect.stringMatching(/not UTF-8/) }]);

    // Past the bound with no newline: refused as soon as it is past, not after a timeout.
    const long = await exchange(home, (socket) => write(socket, Buffer.alloc(65 * 1024, 0x7b)));
    expect(long.frames).toEqual([
      { t: "refused", reason: expect.stringMatching(/at most 65536 bytes/) },
    ]);
    expect(long.closedAfterMs).toBeLessThan(4_000);

    // A client that sends half a line and then nothing holds no one up: a command from
    // another shell runs meanwhile, and the silent one is refused after 5 s.
    const silent = exchange(home, (socket) => write(socket, '{"v":1,"version":"0.1.0"'));
    const file = join(dir, "meanwhile.md");
    await writeFile(file, "while another client is silent\n");
    await homes.ok(home, ["publish", "s", file]);
    const refused = await silent;
    expect(refused.frames).toEqual([
      { t: "refused", reason: expect.stringMatching(/no request line within 5 s/) },
    ]);

    // Accepted, and then no go: refused too, and the command never runs.
    const noGo = await exchange(home, (socket) =>
      write(socket, request(["publish", "s", join(dir, "never.md")])),
    );
    expect(noGo.frames).toEqual([
      { t: "accepted", pid: expect.any(Number) },
      { t: "refused", reason: expect.stringMatching(/no go within 5 s/) },
    ]);
    expect(await versionsOf(home)).toEqual([1, 2, 3, 4, 5]);
    expect(await homes.ownerPid(home)).toBe(owner.pid);
    await homes.ok(home, ["owner", "--stop"]);
    await until("the owner exiting", async () => (owner.exitCode === null ? undefined : true));
  });
});

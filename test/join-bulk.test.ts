import { execFileSync, spawn } from "node:child_process";
import { access, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cbor } from "@automerge/automerge-repo";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import * as store from "../packages/store/dist/index.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";
import { type BulkAnswer, type RelayFront, startRelayFront } from "./helpers/relay-front.js";

type Report = {
  exchanged: number | null;
  inBulk: number;
  received: { cid: string }[];
  missing: unknown[];
};

const STANDARDS = ["style", "tone", "names"];

let owner: Sandbox;
let relayData: string;
let relay: RelayProcess;
let spaceUrl: string;
const newcomers: Sandbox[] = [];
const fronts: RelayFront[] = [];

beforeEach(async () => {
  owner = await sandbox();
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
  relay = await startRelay(relayData);
  owner.ok("init");
  spaceUrl = owner.ok("space", "create", "shared", "--json").json<{ url: string }>().url;
  for (const standard of STANDARDS)
    owner.ok("publish", standard, await owner.file(`${standard}.md`, `${standard} v1\n`));
  owner.ok("sync", "--relay", relay.url);
});

afterEach(async () => {
  for (const front of fronts.splice(0)) await front.close();
  await stopAll();
  for (const newcomer of newcomers.splice(0)) await newcomer.dispose();
  await owner.dispose();
  await rm(relayData, { recursive: true, force: true });
});

async function newcomer(): Promise<Sandbox> {
  const home = await sandbox();
  newcomers.push(home);
  home.ok("init");
  return home;
}

/** Joins through `url` without blocking this process (a front runs in it), and fails unless it worked. */
async function join_(home: Sandbox, url: string): Promise<Report> {
  const run = await home.canonAsync("space", "join", spaceUrl, "--relay", url, "--json");
  if (run.status !== 0) throw new Error(`join exited ${run.status}: ${run.stderr}`);
  return run.json<Report>();
}

/** Every standard shows its content, and `ls` lists exactly the space's standards. */
async function readsEverything(home: Sandbox): Promise<void> {
  for (const standard of STANDARDS) {
    const shown = await home.canonAsync("show", standard);
    expect(shown.stdout, shown.stderr).toBe(`${standard} v1\n`);
  }
  const listed = (await home.canonAsync("ls", "--json")).json<{
    standards: { standard: string }[];
  }>();
  expect(listed.standards.map((entry) => entry.standard).sort()).toEqual([...STANDARDS].sort());
}

/** The frames of a genuine bulk answer. */
async function framesOf(body: Buffer): Promise<store.DocumentFrame[]> {
  const frames: store.DocumentFrame[] = [];
  const reading = store.readDocumentFrames(
    (async function* () {
      yield new Uint8Array(body);
    })(),
    { maxDocumentBytes: 2 ** 25, maxTotalBytes: 2 ** 28 },
  );
  for (;;) {
    const next = await reading.next();
    if (next.done === true) return frames;
    frames.push(next.value);
  }
}

function framed(frames: readonly store.DocumentFrame[], end = true): Buffer {
  return Buffer.concat([
    store.DOCUMENT_FRAMES_TAG,
    ...frames.flatMap((frame) => [
      store.documentFrameHeader(frame.documentId, frame.bytes.length),
      frame.bytes,
    ]),
    ...(end ? [store.DOCUMENT_FRAMES_END] : []),
  ]);
}

/** Every file under `directory`, as paths relative to it (none when it does not exist). */
async function filesUnder(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1));
  } catch {
    return [];
  }
}

describe("a fresh home joins a space in one bulk answer", () => {
  it("takes the space from the relay's bulk answer, exchanges nothing more, and syncs normally after", async () => {
    const home = await newcomer();
    const joined = home
      .ok("space", "join", spaceUrl, "--relay", relay.url, "--json")
      .json<Report>();
    // The space document and one document a standard, all in step: no exchange.
    expect(joined).toMatchObject({ inBulk: 1 + STANDARDS.length, exchanged: 0, missing: [] });
    expect(joined.received.length).toBeGreaterThanOrEqual(1 + STANDARDS.length);
    // Made durable as one chunk pack, not a file and folders a document.
    const replicaFiles = await filesUnder(join(home.home, "replica"));
    expect(replicaFiles.filter((path) => /^packs\/[0-9a-f]{64}\.pack$/.test(path))).toHaveLength(1);
    expect(replicaFiles.filter((path) => /\/(snapshot|incremental)\//.test(path))).toEqual([]);
    await readsEverything(home);
    // The caches the join wrote hold: the next sync finds nothing to do.
    expect(home.ok("sync", "--json").json<Report>()).toMatchObject({ exchanged: 0, inBulk: 0 });
    // And what the owner publishes next arrives by the normal sync.
    const v2 = owner
      .ok("publish", "tone", await owner.file("tone.md", "tone v2\n"), "--json")
      .json<{ release: string }>();
    owner.ok("sync");
    const pulled = home.ok("sync", "--json").json<Report>();
    expect(pulled.received.map((record) => record.cid)).toContain(v2.release);
    expect(home.ok("show", "tone").stdout).toBe("tone v2\n");
  });

  it("through an older relay without the bulk answer (404), joins by the normal sync", async () => {
    const front = await startRelayFront(relay.port, () => ({
      status: 404,
      body: Buffer.from('{"error":"not found"}'),
    }));
    fronts.push(front);
    const home = await newcomer();
    const joined = await join_(home, front.url);
    expect(front.bulkRequests).toHaveLength(1);
    expect(joined).toMatchObject({ inBulk: 0, exchanged: null, missing: [] });
    await readsEverything(home);
  });

  it("from a relay that lies in its bulk answer, still joins whole by the normal sync, keeping nothing foreign", async () => {
    // Another space on the same relay: its documents are what a lying relay sends instead.
    const elsewhere = owner
      .ok("space", "create", "elsewhere", "--json")
      .json<{ url: string }>().url;
    owner.ok(
      "publish",
      "secret",
      await owner.file("secret.md", "secret v1\n"),
      "--space",
      elsewhere,
    );
    owner.ok("sync", "--space", elsewhere, "--relay", relay.url);
    const elsewhereId = elsewhere.slice("canon:".length).split("/")[0] as string;
    const foreign = await framesOf(
      Buffer.from(
        await (
          await fetch(`http://127.0.0.1:${relay.port}/documents/${elsewhereId}`)
        ).arrayBuffer(),
      ),
    );
    const foreignIds = foreign.map((frame) => frame.documentId);
    expect(foreignIds).toHaveLength(2);

    const lies: [string, BulkAnswer, number][] = [
      ["garbage", () => ({ status: 200, body: Buffer.from("<html>not a bulk answer</html>") }), 0],
      [
        "a 4 GiB frame after the space",
        async ({ body }) => ({
          status: 200,
          body: Buffer.concat([
            framed((await framesOf(body)).slice(0, 1), false),
            store.documentFrameHeader("2PHnaDJm1NpmZXNrsWGXPQayrdZM", 0xffff_fff0),
          ]),
        }),
        1,
      ],
      [
        "cut short",
        ({ body }) => ({ status: 200, body: body.subarray(0, Math.floor(body.length / 2)) }),
        -1,
      ],
      ["bytes that do not load", ({ body }) => ({ status: 200, body: scrambled(body) }), 0],
    ];
    for (const [what, answer, inBulk] of lies) {
      const front = await startRelayFront(relay.port, answer);
      fronts.push(front);
      const home = await newcomer();
      const joined = await join_(home, front.url);
      if (inBulk >= 0) expect(joined.inBulk, what).toBe(inBulk);
      else expect(joined.inBulk, what).toBeLessThan(1 + STANDARDS.length);
      expect(joined.exchanged, what).toBeNull();
      await readsEverything(home);
    }

    // Another space's documents: appended under their own ids, and in place of this space's own.
    const genuine = await framesOf(
      Buffer.from(
        await (
          await fetch(`http://127.0.0.1:${relay.port}/documents/${spaceUrl.slice(6).split("/")[0]}`)
        ).arrayBuffer(),
      ),
    );
    const [space, first, ...rest] = genuine as [store.DocumentFrame, store.DocumentFrame];
    const swapped = [
      space,
      { documentId: first.documentId, bytes: (foreign[1] as store.DocumentFrame).bytes },
      ...rest,
      ...foreign,
    ];
    const liar = await startRelayFront(relay.port, () => ({ status: 200, body: framed(swapped) }));
    fronts.push(liar);
    const home = await newcomer();
    const joined = await join_(home, liar.url);
    expect(joined.inBulk).toBe(genuine.length);
    expect(joined.exchanged).toBeNull();
    await readsEverything(home);
    for (const id of foreignIds)
      await expect(access(store.pathOfKey(join(home.home, "replica"), [id]))).rejects.toThrow();
    expect((await home.canonAsync("show", "secret")).status).not.toBe(0);
  });

  it("killed after taking the bulk answer in but before making it durable, leaves no document half there, and a second join completes", async () => {
    const home = await newcomer();
    // The join's first half in a process of its own: the bulk answer taken in and every
    // save run (held back: kept in memory, nothing written yet), then killed.
    const dist = join(import.meta.dirname, "../packages/store/dist");
    const spaceId = spaceUrl.slice("canon:".length).split("/")[0] as string;
    const script = [
      `import { canonHome, openReplica } from ${JSON.stringify(join(dist, "index.js"))};`,
      `import { fetchSpaceDocuments } from ${JSON.stringify(join(dist, "sync/space-documents.js"))};`,
      "const replica = await openReplica(canonHome(process.env.CANON_HOME));",
      `const fetched = await fetchSpaceDocuments(replica, { url: ${JSON.stringify(relay.url)} }, ${JSON.stringify(spaceId)}, 20000);`,
      "await replica.repo.flush();",
      'process.stdout.write(JSON.stringify(fetched.adopted) + "\\n");',
      "setInterval(() => {}, 1000);",
    ].join("\n");
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, CANON_HOME: home.home },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const gone = new Promise((resolve) => child.on("exit", resolve));
    const adopted = await new Promise<string[]>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("\n")) resolve(JSON.parse(out) as string[]);
      });
      child.on("exit", (code) => reject(new Error(`the half join exited ${code} first`)));
    });
    expect(adopted).toHaveLength(1 + STANDARDS.length);
    const written = await filesUnder(join(home.home, "replica"));
    const chunk = /\/(snapshot|incremental)\/[^/]+$/;
    // No document is written, in place or beside it, before the writes are made durable.
    expect(written.filter((path) => chunk.test(path.replace(/\.tmp-\w+$/, "")))).toEqual([]);
    child.kill("SIGKILL");
    await gone;

    const joined = await join_(home, relay.url);
    expect(joined).toMatchObject({ inBulk: 1 + STANDARDS.length, exchanged: 0, missing: [] });
    await readsEverything(home);
    // What the killed process left beside the chunks is never read as a chunk.
    const doctor = await home.canonAsync("doctor", "--json");
    expect(doctor.status, doctor.stdout + doctor.stderr).toBe(0);
  });
  it("killed while what it took in is made durable in the background (the space document in place), a second join completes", async () => {
    const home = await newcomer();
    const dist = join(import.meta.dirname, "../packages/store/dist");
    const spaceId = spaceUrl.slice("canon:".length).split("/")[0] as string;
    // The join's first half, then the background settle of `syncSpace`, killed once the
    // space document is durable (the rest may or may not be yet).
    const script = [
      `import { canonHome, openReplica } from ${JSON.stringify(join(dist, "index.js"))};`,
      `import { fetchSpaceDocuments } from ${JSON.stringify(join(dist, "sync/space-documents.js"))};`,
      `import { FileStorage } from ${JSON.stringify(join(dist, "storage/file-storage.js"))};`,
      "const home = canonHome(process.env.CANON_HOME);",
      "const replica = await openReplica(home);",
      `await fetchSpaceDocuments(replica, { url: ${JSON.stringify(relay.url)} }, ${JSON.stringify(spaceId)}, 20000);`,
      "await replica.repo.flush();",
      "replica.settleSoon();",
      "const other = new FileStorage(home.replica);",
      `while (!(await other.hasDocument(${JSON.stringify(spaceId)}))) await new Promise((r) => setTimeout(r, 1));`,
      'process.stdout.write("durable\\n");',
      "setInterval(() => {}, 1000);",
    ].join("\n");
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, CANON_HOME: home.home },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const gone = new Promise((resolve) => child.on("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("durable")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`the half join exited ${code} first`)));
    });
    child.kill("SIGKILL");
    await gone;

    // The space is held now (whole or in part): the second join syncs it normally.
    const joined = await join_(home, relay.url);
    expect(joined).toMatchObject({ missing: [] });
    await readsEverything(home);
    const doctor = await home.canonAsync("doctor", "--json");
    expect(doctor.status, doctor.stdout + doctor.stderr).toBe(0);
  });
});

describe("a bulk answer cannot kill the joining process's Automerge", () => {
  it("skips a document nesting 20,000 maps (one level per change) in place of a standard's, and joins whole by the normal sync", async () => {
    const deep = deepDocument(20_000);
    const front = await startRelayFront(relay.port, async ({ body }) => {
      const [space, first, ...rest] = (await framesOf(body)) as [
        store.DocumentFrame,
        store.DocumentFrame,
      ];
      return {
        status: 200,
        body: framed([space, { documentId: first.documentId, bytes: deep }, ...rest]),
      };
    });
    fronts.push(front);
    const home = await newcomer();
    // Before, the process that took the document in trapped ("unreachable", then "Module terminated").
    const joined = await join_(home, front.url);
    expect(joined.inBulk).toBe(STANDARDS.length);
    expect(joined.exchanged).toBeNull();
    await readsEverything(home);
  }, 120_000);
});

describe("a sync cannot kill the joining process's Automerge either", () => {
  it("a relay answering the space with a document nesting 20,000 maps: the join fails with a clear error, not a trapped process", async () => {
    const deep = deepDocument(20_000, true);
    const spaceId = spaceUrl.slice("canon:".length).split("/")[0] as string;
    const server = createServer((request, response) => {
      if (request.url === "/healthz") {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ ok: true, peers: 0 }));
        return;
      }
      response.writeHead(404).end();
    });
    const sockets = new WebSocketServer({ server });
    sockets.on("connection", (socket) => {
      socket.on("message", (raw: Buffer) => {
        const message = cbor.decode(new Uint8Array(raw)) as {
          type: string;
          senderId: string;
          documentId?: string;
        };
        const reply = (answer: Record<string, unknown>) =>
          socket.send(
            cbor.encode({ senderId: "hostile-relay", targetId: message.senderId, ...answer }),
          );
        if (message.type === "join")
          reply({
            type: "peer",
            selectedProtocolVersion: "1",
            peerMetadata: { storageId: "00000000-0000-4000-8000-000000000000", isEphemeral: false },
          });
        else if (message.documentId === spaceId)
          reply({
            type: "sync",
            documentId: spaceId,
            data: new Uint8Array(deep),
          });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const home = await newcomer();
      const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const run = await home.canonAsync(
        "space",
        "join",
        spaceUrl,
        "--relay",
        url,
        "--timeout",
        "10",
      );
      expect(run.stderr).toContain(
        `relay ${url} sent a document nesting objects over 64 deep, which would have crashed this process`,
      );
      expect(run.stderr).not.toMatch(/unreachable|Module terminated|RuntimeError/);
      expect(run.status).toBe(5);
    } finally {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 120_000);
});

/**
 * A document nesting `levels` maps, one level per change (or a sync message
 * carrying it whole, as Automerge sends one to a peer that has none), built by a Node
 * process in the store package (where Automerge resolves; the root does not
 * depend on it).
 */
function deepDocument(levels: number, asSyncMessage = false): Buffer {
  const script = `
    import * as A from "@automerge/automerge";
    const backend = A.getBackend(A.init());
    let obj = "_root";
    for (let i = 0; i < ${levels}; i++) { obj = backend.putObject(obj, "a", {}); backend.commit("level " + i); }
    const bytes = backend.save();
    const out = ${asSyncMessage}
      ? A.encodeSyncMessage({ heads: backend.getHeads(), need: [], have: [], changes: [bytes] })
      : bytes;
    process.stdout.write(Buffer.from(out).toString("base64"));
  `;
  const cwd = join(import.meta.dirname, "..", "packages", "store");
  return Buffer.from(
    execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd,
      encoding: "utf8",
    }),
    "base64",
  );
}

/** The answer with every document's bytes flipped (lengths and ids kept): none loads. */
function scrambled(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  let offset = 4;
  while (offset < copy.length && copy[offset] !== 0) {
    const idLength = copy[offset] as number;
    const length = copy.readUInt32BE(offset + 1 + idLength);
    const start = offset + 1 + idLength + 4;
    for (let index = start; index < start + length; index++)
      copy[index] = 0xff - (copy[index] as number);
    offset = start + length;
  }
  return copy;
}

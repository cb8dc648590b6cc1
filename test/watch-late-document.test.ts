import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startCanon, startRelay, stopAll } from "./helpers/processes.js";

// A long-lived process (`canon watch`, the home's owner) gives up on a routed
// document no peer has (after the find timeout) and, until this fix, never
// asked for it again: once the relay had evicted the document it did not
// have (60 s idle by default), a standard routed before its document reached
// the relay stayed missing for the life of the process.

let a: Sandbox;
let b: Sandbox;
let relayData: string;
beforeEach(async () => {
  [a, b] = await Promise.all([sandbox(), sandbox()]);
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await stopAll();
  for (const home of [a, b]) await home.dispose();
  await rm(relayData, { recursive: true, force: true });
});

type WatchLine = { event: string; record?: { standard?: string; cid: string } };
const parse = (line: string) => JSON.parse(line) as WatchLine;

/** The document ids a home's replica stores (`replica/<2 chars>/<rest>`). */
async function storedDocuments(home: string): Promise<Set<string>> {
  const ids = new Set<string>();
  const replica = join(home, "replica");
  for (const prefix of await readdir(replica, { withFileTypes: true })) {
    if (!prefix.isDirectory()) continue;
    for (const rest of await readdir(join(replica, prefix.name))) ids.add(`${prefix.name}${rest}`);
  }
  return ids;
}

describe("a document routed before it exists on the relay", () => {
  it("is fetched by a watch that gave up on it once it is published", async () => {
    // Past its new-document budget, a relay answers a request for a document it does not
    // hold "unavailable" without remembering who asked: when the document comes, nothing
    // tells B. (Every client here shares 127.0.0.1, so one budget.)
    const relay = await startRelay(relayData, { flags: ["--new-documents-per-minute", "3"] });
    a.ok("init");
    b.ok("init");
    const { url } = a.ok("space", "create", "late", "--json").json<{ url: string }>();
    a.ok("publish", "tone", await a.file("tone.md", "tone v1\n"));
    a.ok("sync", "--relay", relay.url);
    b.ok("space", "join", url, "--relay", relay.url);
    const spaceId = url.slice("canon:".length).split("/")[0] as string;

    const watch = startCanon(["watch", "--json"], b.home);
    await watch.waitForLine((line) => parse(line).event === "connected");

    // A publishes a new standard but does not sync yet: its document exists only at A.
    const before = await storedDocuments(a.home);
    const voice = a
      .ok("publish", "voice", await a.file("voice.md", "voice v1\n"), "--json")
      .json<{ release: string }>();
    const fresh = [...(await storedDocuments(a.home))].filter((id) => !before.has(id));
    expect(fresh).toHaveLength(1);
    const voiceDocument = fresh[0] as string;
    // Its route reaches the relay first (any writer can route): B's watch asks for the
    // document, the relay has none, and B gives up on it after the find timeout.
    // The attacker asks for ids nobody has first, so the address's budget is spent.
    const nobodys = Array.from(
      { length: 6 },
      () => parseAutomergeUrl(generateAutomergeUrl()).documentId,
    );
    await writeAsAttacker(
      relay.url,
      spaceId,
      ({ space }) => {
        space.change((doc) => {
          doc.standards[voiceDocument] = "voice";
        });
      },
      { documents: nobodys },
    );
    await new Promise((resolve) => setTimeout(resolve, 8000));
    expect(watch.lines.some((line) => parse(line).record?.cid === voice.release)).toBe(false);

    // Now the document reaches the relay (once the budget lets A create it: a sync past it
    // is cut off, and tried again): the watch fetches it and reports the release.
    for (let attempt = 0; ; attempt++) {
      if ((await a.canonAsync("sync")).status === 0) break;
      expect(attempt).toBeLessThan(30);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
    const seen = parse(
      await watch.waitForLine((line) => parse(line).record?.cid === voice.release, 90_000),
    );
    expect(seen.record?.standard).toBe("voice");
    expect(await watch.stop("SIGTERM")).toBe(0);
    expect(b.ok("show", "voice").stdout).toBe("voice v1\n");
  }, 300_000);
});

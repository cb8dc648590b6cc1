import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

/** `MAX_FEED_SEGMENTS_PER_AGENT` in packages/store/src/space/documents.ts. */
const MAX_FEED_SEGMENTS_PER_AGENT = 100;

type SyncJson = { missing: { documentId: string }[] };
type Found = { verified: boolean; stamps: { stamp: { author: string } }[] };

/**
 * A peer that owns a connection to the relay fills the space's unsigned
 * `feeds` map with valid document ids: entries naming someone who was never
 * a member, and more entries under an agent's did than a reader loads.
 * Readers fetch a bounded number, never crash, and keep finding valid stamps.
 */
let owner: Sandbox;
let relay: RelayProcess;
let relayData: string;
const boxes: Sandbox[] = [];

beforeAll(async () => {
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
  relay = await startRelay(relayData);
  owner = await sandbox();
  boxes.push(owner);
});

afterAll(async () => {
  await stopAll();
  for (const box of boxes.splice(0)) await box.dispose();
  await rm(relayData, { recursive: true, force: true });
});

const nowhere = () => parseAutomergeUrl(generateAutomergeUrl()).documentId as string;

describe("a hostile peer filling the space's feeds map", () => {
  it("only members' feeds are read, at most MAX_FEED_SEGMENTS_PER_AGENT each; joins finish and every stamp a reader held still verifies", async () => {
    const ownerDid = owner.ok("init", "--json").json<{ did: string }>().did;
    const { url } = owner.ok("space", "create", "feeds", "--json").json<{ url: string }>();
    const spaceDocumentId = url.slice("canon:".length).split("/")[0] as string;
    owner.ok("publish", "style", await owner.file("style.md", "# Style v1\n"));
    const agent = owner.ok("id", "new", "--name", "agent", "--json").json<{ did: string }>().did;
    owner.ok("member", "add", agent, "--role", "contributor");
    const byOwner = await owner.file("by-owner.md", "the owner's output\n");
    owner.ok("stamp", byOwner, "--standard", "style");
    const byAgent = await owner.file("by-agent.md", "the agent's output\n");
    owner.ok("stamp", byAgent, "--as", "agent", "--standard", "style");
    owner.ok("sync", "--relay", relay.url);

    // Never a member: a did of the right shape that nobody admitted.
    const stranger = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
    const strangers = Array.from({ length: 300 }, nowhere);
    const crowding = Array.from({ length: MAX_FEED_SEGMENTS_PER_AGENT + 20 }, nowhere);
    const junkValued = Array.from({ length: 20 }, nowhere);
    await writeAsAttacker(relay.url, spaceDocumentId, ({ space }) => {
      space.change((doc) => {
        const feeds = (doc as unknown as { feeds: Record<string, unknown> }).feeds;
        for (const id of strangers) feeds[id] = stranger;
        for (const id of crowding) feeds[id] = agent;
        for (const [i, id] of junkValued.entries()) feeds[id] = i % 2 === 0 ? 42 : { did: agent };
        feeds["not a document id"] = agent;
      });
    });

    // A newcomer's join asks for none of the strangers' or junk-valued entries,
    // and for at most MAX_FEED_SEGMENTS_PER_AGENT of the agent's.
    const newcomer = await sandbox();
    boxes.push(newcomer);
    newcomer.ok("init");
    const joined = newcomer
      .ok("space", "join", url, "--relay", relay.url, "--timeout", "120", "--json")
      .json<SyncJson>();
    const asked = new Set(joined.missing.map((entry) => entry.documentId));
    expect(strangers.filter((id) => asked.has(id))).toEqual([]);
    expect(junkValued.filter((id) => asked.has(id))).toEqual([]);
    const crowdingAsked = crowding.filter((id) => asked.has(id)).length;
    expect(crowdingAsked).toBeGreaterThan(0);
    expect(crowdingAsked).toBeLessThanOrEqual(MAX_FEED_SEGMENTS_PER_AGENT);
    // Nothing crashes, and the owner's feed (not crowded) is found from the output alone.
    const copy = join(newcomer.dir, "copy.md");
    await writeFile(copy, "the owner's output\n");
    const found = newcomer.ok("verify", copy, "--json").json<Found>();
    expect(found.verified).toBe(true);
    expect(found.stamps.map((s) => s.stamp.author)).toEqual([ownerDid]);
    const matrix = newcomer.ok("agents", "--json").json<{ agents: { did: string }[] }>();
    expect(matrix.agents.map((row) => row.did)).toContain(ownerDid);
    newcomer.ok("doctor", "--json");

    // A member who read the agent's feed before keeps it first, however many entries crowd it.
    owner.ok("sync", "--timeout", "120");
    const ownerCopy = join(owner.dir, "copy-agent.md");
    await writeFile(ownerCopy, "the agent's output\n");
    const again = owner.ok("verify", ownerCopy, "--json").json<Found>();
    expect(again.verified).toBe(true);
    expect(again.stamps.map((s) => s.stamp.author)).toEqual([agent]);
  }, 240_000);
});

import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import { writeAsAttacker } from "./helpers/attacker.js";
import { type JoinedReader, joinedReader } from "./helpers/joined-reader.js";
import { stopAll } from "./helpers/processes.js";

type Found = { verified: boolean; stamps: { stamp: { author: string } }[] };

let scene: JoinedReader;

beforeAll(async () => {
  scene = await joinedReader("stamp-flood", "good v1\n");
}, 120_000);

afterAll(async () => {
  await stopAll();
  await scene?.dispose();
});

describe("stamps by strangers filed under an output", () => {
  // Verifying an output from the feeds folds the space again for every stamp naming its
  // sha256 (core's checkAuthorRole), and the stamp index files every stamp whose signature
  // holds. Anyone who can write to a space document can sign stamps with a key of their
  // own: thousands under a popular output made every `canon verify` of it (and the MCP
  // canon_verify) fold the space thousands of times over records including those stamps.
  it("are not verified one by one when found by the output: only members' stamps are, and a stranger's is still verified when named", async () => {
    const { owner, reader, relay, spaceDocumentId, genesis } = scene;
    const text = "the owner's output\n";
    const output = await owner.file("output.md", text);
    owner.ok("stamp", output, "--standard", "style");
    owner.ok("sync");
    const sha256 = createHash("sha256").update(text).digest("hex");
    const stranger = await core.generateKeyPair();
    const strangers: core.SignedRecord[] = [];
    for (let index = 0; index < 40; index++)
      strangers.push(
        await core.signRecord(stranger, {
          type: "canon/provenance",
          v: 1,
          space: genesis,
          subject: [{ name: `output-${index}.md`, digest: { sha256 } }],
          context: [],
          corrections: [],
          spaceHeads: [],
          previous: [],
          membership: [genesis],
          author: stranger.did,
          createdAt: new Date().toISOString(),
        } as core.Provenance),
      );
    await writeAsAttacker(relay.url, spaceDocumentId, ({ space }) => {
      space.change((doc) => {
        for (const signed of strangers) doc.records[signed.cid] = signed.bytes;
      });
    });
    reader.ok("sync");
    const copy = join(reader.dir, "copy.md");
    await writeFile(copy, text);
    const found = reader.ok("verify", copy, "--json").json<Found>();
    expect(found.verified).toBe(true);
    expect(found.stamps.map((s) => s.stamp.author)).toEqual([
      owner.ok("id", "show", "--json").json<{ did: string }>().did,
    ]);
    // Named, a stranger's stamp is verified (and refused).
    const named = reader.canon("verify", copy, "--stamp", strangers[0]?.cid as string, "--json");
    expect(named.stdout).toContain(stranger.did);
    expect(named.status).not.toBe(0);
  }, 180_000);
});

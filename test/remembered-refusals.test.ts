import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import { writeAsAttacker } from "./helpers/attacker.js";
import type { Sandbox } from "./helpers/cli.js";
import { type JoinedReader, joinedReader, rejectionCode } from "./helpers/joined-reader.js";
import { type RelayProcess, stopAll } from "./helpers/processes.js";

/**
 * A home remembers, by CID, the entries it refused for good
 * (`index/<space>.refused`): a verdict about the very bytes a CID names. A
 * hostile peer or relay must not get a genuine record's CID into that list by
 * showing the home something else under it first (bytes that do not hash to
 * it, a record whose author's membership is not known yet): once the genuine
 * record arrives, it counts. Real processes and a real relay on 127.0.0.1.
 */
let owner: Sandbox;
let reader: Sandbox;
let relay: RelayProcess;
let spaceDocumentId: string;
let genesis: string;
let ownerKeys: core.KeyPair;

type Shown = { version: number; release: string; content: string };

let scene: JoinedReader;

beforeAll(async () => {
  scene = await joinedReader("refusals", "v1\n");
  ({ owner, reader, relay, spaceDocumentId, genesis, ownerKeys } = scene);
});

afterAll(async () => {
  await stopAll();
  await scene.dispose();
});

function shown(home: Sandbox): Shown {
  return home.ok("show", "style", "--json").json<Shown>();
}

/** The reader's list of entries refused for good, as text (CIDs in JSON, behind a checksum). */
async function refusedList(): Promise<string> {
  return (await readFile(join(reader.home, "index", `${spaceDocumentId}.refused`))).toString(
    "latin1",
  );
}

/** Writes `records` into the space document's records map through the relay, as anyone with the URL can. */
async function injectIntoSpace(records: Record<string, Uint8Array>): Promise<void> {
  await writeAsAttacker(relay.url, spaceDocumentId, ({ space }) => {
    space.change((doc) => {
      for (const [cid, bytes] of Object.entries(records)) doc.records[cid] = bytes;
    });
  });
}

describe("remembered refusals hold only verdicts about the bytes a CID names", () => {
  it("other bytes shown first under a genuine record's CID are refused but not remembered: the genuine record counts once it arrives", async () => {
    // The owner's v2 exists only on the owner's machine; a hostile peer guesses or
    // learns its CID (a relay sees it) and files other bytes under it first.
    owner.ok("publish", "style", await owner.file("s.md", "v2\n"));
    const v2 = shown(owner);
    expect(v2.version).toBe(2);
    // Under v2's CID: a release genuinely signed by a maintainer of this space, which does not hash to it.
    const junkUnderOwnCid = await core.signRecord(ownerKeys, {
      type: "canon/release",
      v: 1,
      space: genesis,
      standard: "style",
      version: 99,
      contentCid: (await core.contentCid(new TextEncoder().encode("x"))).toString(),
      size: 1,
      parents: [v2.release],
      incorporates: [],
      message: "",
      membership: [genesis],
      author: ownerKeys.did,
      createdAt: new Date().toISOString(),
    } as core.Release);
    // And one entry refused for good, under its own CID: a signature that does not verify.
    const badSignature = await badlySigned(junkUnderOwnCid.bytes);
    await injectIntoSpace({
      [v2.release]: junkUnderOwnCid.bytes,
      [badSignature.cid]: badSignature.bytes,
    });
    reader.ok("sync");
    expect(shown(reader).version).toBe(1);
    expect(rejectionCode(reader, v2.release)).toBe("cid-mismatch");
    expect(rejectionCode(reader, badSignature.cid)).toBe("bad-signature");
    // The list is in use: the bad signature is in it, v2's CID is not.
    expect(await refusedList()).toContain(badSignature.cid);
    expect(await refusedList()).not.toContain(v2.release);
    // The genuine v2 arrives: it counts, on this home, at once. The reader's sync takes the
    // incremental path (only the documents that differ, `refreshTouched`), which before skipped
    // every entry under a CID its verified snapshot listed as invalid, whatever the reason, and
    // read one value a CID: the reader showed v1 after every sync, while a fresh join showed v2.
    owner.ok("sync");
    reader.ok("sync");
    expect(shown(reader)).toMatchObject({ version: 2, release: v2.release, content: "v2\n" });
    expect(rejectionCode(reader, v2.release)).toBe("cid-mismatch");
    expect(await refusedList()).not.toContain(v2.release);
  });

  it("a member's release shown before the membership that makes them one is refused for now, not remembered: it counts once the membership arrives", async () => {
    const newcomer = await core.generateKeyPair();
    // Made on the owner's machine only: the reader cannot know it yet.
    const membership = owner
      .ok("member", "add", newcomer.did, "--role", "maintainer", "--json")
      .json<{ record: string }>().record;
    const head = shown(owner);
    const text = new TextEncoder().encode("by the newcomer\n");
    const release = await core.signRecord(newcomer, {
      type: "canon/release",
      v: 1,
      space: genesis,
      standard: "style",
      version: head.version + 1,
      contentCid: (await core.contentCid(text)).toString(),
      size: text.length,
      parents: [head.release],
      incorporates: [],
      message: "",
      membership: [membership],
      author: newcomer.did,
      createdAt: new Date().toISOString(),
    } as core.Release);
    // The newcomer's release reaches the relay before the owner syncs the membership.
    await writeAsAttacker(relay.url, spaceDocumentId, ({ standards }) => {
      const [handle] = standards.values();
      handle?.change((doc) => {
        doc.records[release.cid] = release.bytes;
        doc.contents[release.record.contentCid] = text;
      });
    });
    reader.ok("sync");
    expect(shown(reader).release).toBe(head.release);
    const code = rejectionCode(reader, release.cid);
    expect(code).toBeDefined();
    expect(core.PERMANENT_REFUSALS.has(code as core.RejectionCode)).toBe(false);
    expect(await refusedList()).not.toContain(release.cid);
    // The membership arrives in the space document alone: the incremental path looked for the
    // release's content only there (and in the blob cache), so it refused the release as
    // content-missing and the reader stayed on the old head.
    owner.ok("sync");
    reader.ok("sync");
    expect(shown(reader)).toMatchObject({
      version: head.version + 1,
      release: release.cid,
      content: "by the newcomer\n",
    });
    expect(rejectionCode(reader, release.cid)).toBeUndefined();
  });
});

/** `bytes` (a signed envelope) with its signature's first byte flipped, and the CID they hash to. */
async function badlySigned(bytes: Uint8Array): Promise<{ cid: string; bytes: Uint8Array }> {
  const { decode, encode } = await import("@ipld/dag-cbor");
  const envelope = decode(bytes) as { payload: Uint8Array; sig: Uint8Array };
  const sig = new Uint8Array(envelope.sig);
  sig[0] = (sig[0] as number) ^ 0xff;
  const forged = encode({ payload: envelope.payload, sig });
  return { cid: (await core.recordCid(forged)).toString(), bytes: forged };
}

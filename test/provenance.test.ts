import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as core from "../packages/core/dist/index.js";
import * as store from "../packages/store/dist/index.js";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { writeCorrection } from "./helpers/library-writer.js";

let owner: Sandbox;
beforeEach(async () => {
  owner = await sandbox();
});
afterEach(async () => {
  await owner.dispose();
});

interface Verdict {
  verified: boolean;
  problems: { code: string; message: string; rejection?: string }[];
  output: { sha256: string; matches: boolean };
  stamp: { cid: string; author: string };
  context: {
    standard: string;
    version: number;
    accepted: boolean;
    current: boolean;
    latestVersion: number;
  }[];
  missedCorrections: { cid: string }[];
}

/** A space with one standard and an agent identity holding `role`. */
async function spaceWithAgent(role: string) {
  owner.ok("init");
  owner.ok("space", "create", "the publication");
  owner.ok("publish", "style", await owner.file("style.md", "# Style v1\n"));
  const agent = owner.ok("id", "new", "--name", "writer", "--json").json<{ did: string }>().did;
  owner.ok("member", "add", agent, "--role", role);
  return { agent };
}

describe("stamp and verify", () => {
  it("an agent stamps its output with the exact context; an auditor verifies it and sees drift later", async () => {
    const { agent } = await spaceWithAgent("contributor");
    const output = await owner.file("article.md", "An article written with the style guide.\n");
    const stamped = owner
      .ok("stamp", output, "--standard", "style", "--as", "writer", "--json")
      .json<{ cid: string; stampFile: string; context: { standard: string; version: number }[] }>();
    expect(stamped.stampFile).toBe(`${output}.canon.json`);
    expect(stamped.context).toEqual([expect.objectContaining({ standard: "style", version: 1 })]);
    const onDisk = JSON.parse(await readFile(stamped.stampFile, "utf8"));
    expect(onDisk).toMatchObject({ canon: "stamp", cid: stamped.cid });

    const verdict = owner.ok("verify", output, "--json").json<Verdict>();
    expect(verdict).toMatchObject({
      verified: true,
      problems: [],
      output: { matches: true },
      stamp: { cid: stamped.cid, author: agent },
      context: [{ standard: "style", version: 1, accepted: true, current: true, latestVersion: 1 }],
    });

    // v2 comes out: the output still verifies, and the auditor sees it was current when stamped and superseded since.
    owner.ok("publish", "style", await owner.file("style.md", "# Style v2\n"));
    const later = owner.ok("verify", output, "--json").json<Verdict>();
    expect(later.verified).toBe(true);
    expect(later.context[0]).toMatchObject({ version: 1, current: false, latestVersion: 2 });
    expect(owner.ok("verify", output).stdout).toMatch(
      /current when stamped; superseded since by v2/,
    );

    // A pinned context names that version, whatever is latest.
    const pinned = owner
      .ok("stamp", output, "--standard", "style@1", "--as", "writer", "--json")
      .json<{ context: { version: number }[] }>();
    expect(pinned.context[0]?.version).toBe(1);
  });

  it("does not verify a changed output, a tampered stamp, or a stamp by a non-member; exit 7 with the reason", async () => {
    await spaceWithAgent("contributor");
    const output = await owner.file("article.md", "Original.\n");
    owner.ok("stamp", output, "--as", "writer");
    const stampFile = `${output}.canon.json`;
    const stamp = JSON.parse(await readFile(stampFile, "utf8"));

    await writeFile(output, "Edited after stamping.\n");
    const changed = owner.canon("verify", output, "--json");
    expect(changed.status).toBe(7);
    expect(changed.json<Verdict>()).toMatchObject({
      output: { matches: false },
      problems: [{ code: "output-mismatch" }],
    });
    expect(changed.stderr).toMatch(/^canon: .* does not verify: the output's sha256 is/);
    await writeFile(output, "Original.\n");

    // The envelope is what counts: a byte changed in it breaks the CID.
    const envelope = Buffer.from(stamp.envelope, "base64");
    envelope.writeUInt8(envelope.readUInt8(envelope.length - 5) ^ 0x01, envelope.length - 5);
    await writeFile(stampFile, JSON.stringify({ ...stamp, envelope: envelope.toString("base64") }));
    const tampered = owner.canon("verify", output, "--json");
    expect(tampered.status).toBe(7);
    expect(tampered.json<Verdict>().problems).toEqual([
      { code: "invalid-record", rejection: "cid-mismatch", message: expect.any(String) },
    ]);

    // A stranger signs a well-formed stamp for the output: its signature is fine, the space refuses it.
    const stranger = await core.generateKeyPair();
    const genuine = core.CanonRecord.parse(stamp.record);
    const forged = await core.signRecord(stranger, { ...genuine, author: stranger.did });
    await writeFile(
      stampFile,
      JSON.stringify({
        canon: "stamp",
        v: 1,
        cid: forged.cid,
        envelope: Buffer.from(forged.bytes).toString("base64"),
        record: forged.record,
      }),
    );
    const refused = owner.canon("verify", output, "--json");
    expect(refused.status).toBe(7);
    expect(refused.json<Verdict>().problems).toEqual([
      { code: "refused-by-space", rejection: "author-role", message: expect.any(String) },
    ]);

    // Through Canon, a non-member cannot stamp at all.
    owner.ok("id", "new", "--name", "outsider");
    const outsider = owner.canon("stamp", output, "--as", "outsider");
    expect(outsider.status).toBe(6);
  });

  it("a stamp shared before its author's removal still verifies; one signed after it with the old membership point does not", async () => {
    const { agent } = await spaceWithAgent("contributor");
    const output = await owner.file("article.md", "Written before the removal.\n");
    owner.ok("stamp", output, "--as", "writer");
    expect(owner.ok("verify", output, "--json").json<Verdict>().verified).toBe(true);
    owner.ok("member", "remove", agent);
    // The stamp was in the writer's feed when the owner removed them: the removal pinned it.
    expect(owner.ok("verify", output, "--json").json<Verdict>().verified).toBe(true);

    // The removed agent still holds its key and signs a new stamp citing the old membership point.
    const stamp = JSON.parse(await readFile(`${output}.canon.json`, "utf8"));
    const writer = await store.loadIdentity(store.canonHome(owner.home), "writer");
    const later = await owner.file("later.md", "Written after the removal.\n");
    const sha256 = createHash("sha256").update("Written after the removal.\n").digest("hex");
    const backdated = await core.signRecord(writer.keyPair, {
      ...core.CanonRecord.parse(stamp.record),
      subject: [{ name: "later.md", digest: { sha256 } }],
      createdAt: new Date().toISOString(),
    });
    await writeFile(
      `${later}.canon.json`,
      JSON.stringify({
        canon: "stamp",
        v: 1,
        cid: backdated.cid,
        envelope: Buffer.from(backdated.bytes).toString("base64"),
        record: backdated.record,
      }),
    );
    const after = owner.canon("verify", later, "--json");
    expect(after.status).toBe(7);
    expect(after.json<Verdict>().problems).toEqual([
      { code: "refused-by-space", rejection: "backdated", message: expect.any(String) },
    ]);
  });

  it("bad input: a missing output, a missing or malformed stamp, an unknown standard, a stamp of another space", async () => {
    await spaceWithAgent("contributor");
    const output = await owner.file("article.md", "text\n");
    expect(owner.canon("stamp", "nope.md", "--as", "writer").status).toBe(3);
    expect(owner.canon("stamp", output, "--standard", "nope", "--as", "writer").status).toBe(3);
    expect(owner.canon("stamp", output, "--standard", "style@", "--as", "writer").status).toBe(2);
    // No sidecar: the feeds are searched, and hold no stamp of this output.
    const missing = owner.canon("verify", output);
    expect(missing.status).toBe(7);
    expect(missing.stderr).toMatch(
      /no stamp for .*article\.md \(sha256 [0-9a-f]{64}\) in the feeds/,
    );
    const absent = owner.canon("verify", output, "--stamp", "absent.canon.json");
    expect(absent.status).toBe(3);
    expect(absent.stderr).toMatch(/cannot read the stamp .*absent\.canon\.json: no such file/);
    expect(owner.canon("verify", "nope.md").stderr).toMatch(/cannot read .*nope\.md: no such file/);
    await writeFile(`${output}.canon.json`, "{not json");
    const malformed = owner.canon("verify", output);
    expect(malformed.status).toBe(2);
    expect(malformed.stderr).toMatch(/is not a Canon stamp/);

    // A stamp made in a space this home never joined.
    const elsewhere = await sandbox();
    try {
      elsewhere.ok("init");
      elsewhere.ok("space", "create", "other");
      elsewhere.ok("publish", "x", await elsewhere.file("x.md", "x\n"));
      const theirs = await elsewhere.file("out.md", "text\n");
      elsewhere.ok("stamp", theirs);
      await writeFile(`${output}.canon.json`, await readFile(`${theirs}.canon.json`));
      const foreign = owner.canon("verify", output);
      expect(foreign.status).toBe(3);
      expect(foreign.stderr).toMatch(/which this home has not joined/);
    } finally {
      await elsewhere.dispose();
    }
  });

  it("names a context release the space does not have, a readable record that differs, and the corrections an output missed", async () => {
    await spaceWithAgent("contributor");
    const output = await owner.file("article.md", "Written.\n");
    const home = store.canonHome(owner.home);
    const writer = await store.loadIdentity(home, "writer");
    const stampFile = `${output}.canon.json`;
    const stamped = JSON.parse(
      await readFile(
        owner.ok("stamp", output, "--as", "writer", "--json").json<{ stampFile: string }>()
          .stampFile,
        "utf8",
      ),
    );
    const writeStamp = async (signed: core.SignedRecord, readable: unknown = signed.record) =>
      writeFile(
        stampFile,
        JSON.stringify({
          canon: "stamp",
          v: 1,
          cid: signed.cid,
          envelope: Buffer.from(signed.bytes).toString("base64"),
          record: readable,
        }),
      );
    const record = core.CanonRecord.parse(stamped.record) as core.Provenance;

    // Signed by the agent, but naming a version the release does not have.
    const [entry] = record.context;
    if (entry === undefined) throw new Error("no context");
    await writeStamp(
      await core.signRecord(writer.keyPair, { ...record, context: [{ ...entry, version: 2 }] }),
    );
    const wrong = owner.canon("verify", output, "--json");
    expect(wrong.status).toBe(7);
    expect(wrong.json<Verdict>().problems.map((p) => p.code)).toEqual(["release-not-accepted"]);
    expect(wrong.stderr).toMatch(/style@2 .* is not an accepted release/);

    // The readable copy says something else than the signed envelope.
    const genuine = await core.signRecord(writer.keyPair, record);
    await writeStamp(genuine, { ...genuine.record, context: [] });
    const misleading = owner.canon("verify", output, "--json");
    expect(misleading.status).toBe(7);
    expect(misleading.json<Verdict>().problems.map((p) => p.code)).toEqual(["readable-mismatch"]);

    // A correction dated before the stamp that its context did not include is reported as missed.
    await writeStamp(genuine);
    const { signed: missed } = await writeCorrection(owner.home, {
      standard: "style",
      text: "Learned before the article was written.",
      createdAt: new Date(Date.parse(record.createdAt) - 60_000).toISOString(),
    });
    const verdict = owner.ok("verify", output, "--json").json<Verdict>();
    expect(verdict.verified).toBe(true);
    expect(verdict.missedCorrections.map((c) => c.cid)).toEqual([missed.cid]);

    // Drift is reported alongside problems: a stamp that fails still shows what it missed.
    await writeStamp(genuine, { ...genuine.record, context: [] });
    const failing = owner.canon("verify", output, "--json").json<Verdict>();
    expect(failing.problems.map((p) => p.code)).toEqual(["readable-mismatch"]);
    expect(failing.missedCorrections.map((c) => c.cid)).toEqual([missed.cid]);
  });
});

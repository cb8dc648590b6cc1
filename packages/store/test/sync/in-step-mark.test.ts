import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonHome } from "../../src/index.js";
import { etagOf, headsDigest, ifNoneMatchNames } from "../../src/sync/heads-digest.js";
import {
  checkpointNotDue,
  type InStepMark,
  readInStepMark,
  writeInStepMark,
} from "../../src/sync/in-step-mark.js";

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

async function home() {
  const folder = await mkdtemp(join(tmpdir(), "canon-in-step-"));
  folders.push(folder);
  return canonHome(folder);
}

const mark: InStepMark = {
  fingerprintHash: "a".repeat(64),
  digest: headsDigest("space", { space: ["h1"] }),
  checkpoint: { as: "did:key:z6Mkme", dueAt: 2_000 },
};

describe("the heads digest", () => {
  it("is the same for the same heads in any order, and differs for any other head or document", () => {
    const one = headsDigest("space", { space: ["h1", "h2"], doc: ["d1"] });
    expect(
      headsDigest(
        "space",
        new Map([
          ["doc", ["d1"]],
          ["space", ["h2", "h1"]],
        ]),
      ),
    ).toBe(one);
    expect(one).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(headsDigest("space", { space: ["h1", "h2"], doc: ["d2"] })).not.toBe(one);
    expect(headsDigest("space", { space: ["h1", "h2"] })).not.toBe(one);
    expect(headsDigest("other", { space: ["h1", "h2"], doc: ["d1"] })).not.toBe(one);
  });

  it("is named by If-None-Match only as the exact tag, weak or strong, in a bounded list", () => {
    const etag = etagOf("abc");
    expect(ifNoneMatchNames(etag, etag)).toBe(true);
    expect(ifNoneMatchNames(`"x", W/${etag}`, etag)).toBe(true);
    expect(ifNoneMatchNames("*", etag)).toBe(false);
    expect(ifNoneMatchNames('"abcd"', etag)).toBe(false);
    expect(ifNoneMatchNames(undefined, etag)).toBe(false);
    expect(ifNoneMatchNames(`${'"x", '.repeat(1000)}${etag}`, etag)).toBe(false);
  });
});

describe("the in-step mark", () => {
  it("reads back what was written, and nothing from a damaged or malformed file", async () => {
    const at = await home();
    expect(readInStepMark(at, "space")).toBeUndefined();
    await writeInStepMark(at, "space", mark);
    expect(readInStepMark(at, "space")).toEqual(mark);
    const path = join(at.indexes, "space.in-step");
    const bytes = await readFile(path);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 1;
    await writeFile(path, bytes);
    expect(readInStepMark(at, "space")).toBeUndefined();
    await writeFile(path, "not a mark");
    expect(readInStepMark(at, "space")).toBeUndefined();
  });

  it("lets a sync skip the checkpoint only for the signer it was written for, before its due time", () => {
    const signer = { keyPair: { did: "did:key:z6Mkme" } } as never;
    const other = { keyPair: { did: "did:key:z6Mkother" } } as never;
    expect(checkpointNotDue(mark, undefined, new Date(5_000))).toBe(true);
    expect(checkpointNotDue(mark, signer, new Date(1_999))).toBe(true);
    expect(checkpointNotDue(mark, signer, new Date(2_000))).toBe(false);
    expect(checkpointNotDue(mark, other, new Date(0))).toBe(false);
    const never = { ...mark, checkpoint: { as: "did:key:z6Mkme", dueAt: null } };
    expect(checkpointNotDue(never, signer, new Date(1e15))).toBe(true);
    const unsigned = { ...mark, checkpoint: { as: null, dueAt: null } };
    expect(checkpointNotDue(unsigned, signer, new Date(0))).toBe(false);
  });
});

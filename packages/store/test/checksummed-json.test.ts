import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  readChecksummedJson,
  readChecksummedJsonSync,
  writeChecksummedJson,
} from "../src/caches/checksummed-json.js";
import { checksummed } from "../src/storage/checksummed.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function folder() {
  const dir = await mkdtemp(join(tmpdir(), "canon-checksummed-json-"));
  cleanup.push(dir);
  return dir;
}

const both = async (path: string, tag: string) => {
  const value = await readChecksummedJson(path, tag);
  expect(readChecksummedJsonSync(path, tag)).toEqual(value);
  return value;
};

describe("checksummed JSON cache files", () => {
  it("reads back what it wrote, and the files the caches wrote by hand before it, byte for byte the same", async () => {
    const dir = await folder();
    const value = { v: 1, token: "t", fingerprint: { doc: ["snapshot/a"] }, sinceMs: 1.5 };
    const path = join(dir, "nested", "one.proof");
    await writeChecksummedJson(path, "CNP1", value, { durable: true });
    expect(await both(path, "CNP1")).toEqual(value);
    // The format every cache wrote by hand: the tag, the sha-256, the JSON.
    const byHand = checksummed("CNP1", new TextEncoder().encode(JSON.stringify(value)));
    expect(new Uint8Array(await readFile(path))).toEqual(byHand);
    const old = join(dir, "old.heads");
    await writeFile(old, byHand);
    expect(await both(old, "CNP1")).toEqual(value);
  });

  it("refuses (as absent) a file missing, under another tag, changed after writing, cut short, or holding no JSON", async () => {
    const dir = await folder();
    const path = join(dir, "file");
    expect(await both(path, "CNH1")).toBeUndefined();
    await writeChecksummedJson(path, "CNH1", { v: 1, heads: {} }, { durable: false });
    expect(await both(path, "CNR1")).toBeUndefined();
    const bytes = await readFile(path);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 2] = (flipped[flipped.length - 2] as number) ^ 0x01;
    await writeFile(path, flipped);
    expect(await both(path, "CNH1")).toBeUndefined();
    await writeFile(path, bytes.subarray(0, bytes.length - 1));
    expect(await both(path, "CNH1")).toBeUndefined();
    await writeFile(path, checksummed("CNH1", new TextEncoder().encode("{not json")));
    expect(await both(path, "CNH1")).toBeUndefined();
    // A folder where the file should be: unreadable, so absent.
    expect(await both(dir, "CNH1")).toBeUndefined();
  });
});

import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readHeadsCache, writeHeadsCache } from "../src/caches/heads-cache.js";
import { canonHome } from "../src/index.js";
import { checksummed } from "../src/storage/checksummed.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

describe("the heads cache", () => {
  it("is read back as this process wrote it, and from the file once anyone else wrote or damaged it", async () => {
    const root = await mkdtemp(join(tmpdir(), "canon-heads-"));
    cleanup.push(root);
    const home = canonHome(root);
    await mkdir(home.indexes, { recursive: true });
    const space = "space";
    const path = join(home.indexes, `${space}.heads`);
    const mine = { fingerprint: { a: ["snapshot/1"] }, heads: { a: ["h2", "h1"] } };
    await writeHeadsCache(home, space, mine);
    expect(await readHeadsCache(home, space)).toEqual({
      fingerprint: mine.fingerprint,
      heads: { a: ["h1", "h2"] },
    });
    // Another process (or tool) replaces it with another intact cache: that one is read.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const theirs = { v: 1, fingerprint: { b: ["snapshot/2"] }, heads: { b: ["h3"] } };
    await writeFile(path, checksummed("CNH1", new TextEncoder().encode(JSON.stringify(theirs))));
    expect(await readHeadsCache(home, space)).toEqual({
      fingerprint: theirs.fingerprint,
      heads: theirs.heads,
    });
    // Written here again, then damaged in place: nothing is read.
    await writeHeadsCache(home, space, mine);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const bytes = await readFile(path);
    bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0xff;
    await writeFile(path, bytes);
    expect(await readHeadsCache(home, space)).toBeUndefined();
  });
});

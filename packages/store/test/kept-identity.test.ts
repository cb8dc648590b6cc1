import { chmod, mkdtemp, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonHome } from "../src/home/canon-home.js";
import { createIdentity, keepSigningKeys, loadIdentity } from "../src/home/identities.js";

// The home's owner keeps the key pair it derived from a key file, and only
// while that file is the same file, unchanged and private
// (docs/decisions/2026-11-30-round-trip.md, "Third round"). Real files.

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "canon-kept-identity-"));
});
afterEach(async () => {
  keepSigningKeys(false);
  await rm(root, { recursive: true, force: true });
});

describe("signing keys kept in the home's owner", () => {
  it("derives the key pair once while the key file is unchanged, and again (the new key) once it is replaced", async () => {
    const home = canonHome(root);
    const first = await createIdentity(home);
    const path = join(home.identities, "default.json");
    keepSigningKeys();
    const loaded = await loadIdentity(home);
    expect(loaded.identity.did).toBe(first.identity.did);
    expect(await loadIdentity(home)).toBe(loaded);

    // Another identity's key file moved into its place (a new inode): its key, not the kept one.
    await createIdentity(home, "other");
    const other = join(home.identities, "other.json");
    const otherDid = (await loadIdentity(home, "other")).identity.did;
    await rename(other, path);
    const replaced = await loadIdentity(home);
    expect(replaced.identity.did).toBe(otherDid);
    expect(replaced).not.toBe(loaded);

    // Rewritten in place, even with its old modification time put back: derived again.
    const stamp = new Date("2026-01-01T00:00:00Z");
    await utimes(path, stamp, stamp);
    const before = await loadIdentity(home);
    await writeFile(path, await readFile(path));
    await utimes(path, stamp, stamp);
    expect(await loadIdentity(home)).not.toBe(before);
  });

  it("refuses a kept key whose file others may now read, and keeps nothing without the owner's flag", async () => {
    const home = canonHome(root);
    await createIdentity(home);
    const path = join(home.identities, "default.json");
    keepSigningKeys();
    await loadIdentity(home);
    await chmod(path, 0o644);
    await expect(loadIdentity(home)).rejects.toMatchObject({ code: "IDENTITY_UNPROTECTED" });
    await chmod(path, 0o600);
    await loadIdentity(home);
    await rm(path);
    await expect(loadIdentity(home)).rejects.toMatchObject({ code: "NO_IDENTITY" });

    await createIdentity(home);
    keepSigningKeys(false);
    expect(await loadIdentity(home)).not.toBe(await loadIdentity(home));
  });
});

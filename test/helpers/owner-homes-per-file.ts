import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach } from "vitest";
import { type OwnerHomes, ownerHomes } from "./owner-homes.js";
import { stopAll } from "./processes.js";

/**
 * {@link ownerHomes} in a temporary folder made for one test file (named
 * `prefix…`), with the hooks every such file needs: after each test, every
 * owner it started is killed and every relay stopped; after the file, the
 * folder is removed. Call it once, at the top of the file.
 */
export function ownerHomesPerFile(prefix: string): { dir: string; homes: OwnerHomes } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const homes = ownerHomes(dir);
  afterEach(async () => {
    homes.killOwners();
    await stopAll();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, homes };
}

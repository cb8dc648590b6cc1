import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import { type CanonHome, canonHome, openReplica } from "../src/index.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function newHome(): Promise<CanonHome> {
  const root = await mkdtemp(join(tmpdir(), "canon-adopt-"));
  cleanup.push(root);
  return canonHome(root);
}

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId as string;
const docOf = (text: string) => A.load<{ text: string }>(A.save(A.from({ text })));

describe("Replica.adoptAll (a join's bulk answer taken in at once)", () => {
  it("takes each new document once, in order, and leaves alone what is held on disk or in memory and ids that name nothing", async () => {
    const home = await newHome();
    const onDisk = newId();
    const first = await openReplica(home);
    expect(await first.adoptAll([[onDisk, docOf("stored before")]])).toEqual([onDisk]);
    await first.close();

    const replica = await openReplica(home);
    const [a, b] = [newId(), newId()];
    try {
      const inMemory = newId();
      expect(await replica.adopt(inMemory, docOf("in memory"))).toBe(true);
      const adopted = await replica.adoptAll([
        [a, docOf("a")],
        [onDisk, docOf("a stranger's copy")],
        ["not-a-document-id", docOf("nothing")],
        [inMemory, docOf("a second copy")],
        [b, docOf("b")],
        [a, docOf("a again")],
      ]);
      expect(adopted).toEqual([a, b]);
      expect((await replica.find<{ text: string }>(a))?.doc().text).toBe("a");
      expect((await replica.find<{ text: string }>(inMemory))?.doc().text).toBe("in memory");
      expect((await replica.find<{ text: string }>(onDisk))?.doc().text).toBe("stored before");
    } finally {
      await replica.close();
    }
    // What was taken in was saved: a new process finds it on disk.
    const again = await openReplica(home);
    try {
      expect((await again.find<{ text: string }>(b))?.doc().text).toBe("b");
      expect((await again.find<{ text: string }>(a))?.doc().text).toBe("a");
    } finally {
      await again.close();
    }
  });
});

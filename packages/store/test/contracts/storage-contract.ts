import { Repo, type StorageAdapterInterface } from "@automerge/automerge-repo";
import { describe, expect, it } from "vitest";

/** A storage Canon keeps documents in, as the contract below needs it. */
export type ContractStorage = StorageAdapterInterface & {
  hasDocument(documentId: string): Promise<boolean>;
};

/** One case's place to store documents (a directory, a database), made empty. */
export interface StoragePlace {
  /**
   * A storage on this place: each call a new one, as another process (or a
   * relay restarted) would open it; `role` names it where the storage takes a name.
   */
  open(role: "writer" | "reader" | "test"): Promise<ContractStorage>;
  /** Closes every storage opened and removes the place. */
  teardown(): Promise<void>;
}

/**
 * What every storage of Canon's must do beyond automerge-repo's own
 * acceptance suite (`runStorageAdapterTests`): the replica's FileStorage
 * (packages/store) and the relay's PostgresStorage (apps/relay) both run it,
 * each with `place` making a fresh, empty place for each case.
 */
export function runStorageContract(name: string, place: () => Promise<StoragePlace>): void {
  describe(`${name}: the contract of a Canon storage`, () => {
    it("gives a new Repo on the same place every change an earlier Repo saved, across several saves", async () => {
      const at = await place();
      try {
        const writer = new Repo({ storage: await at.open("writer") });
        // Large enough that small later changes are saved as incremental chunks, not re-compacted.
        const initial = Object.fromEntries(
          Array.from({ length: 200 }, (_, i) => [`old-${i}`, "x".repeat(40)]),
        );
        const handle = writer.create<{ records: Record<string, string> }>({ records: initial });
        await writer.flush();
        for (const batch of [0, 1, 2]) {
          handle.change((doc) => {
            doc.records[`cid-${batch}`] = `record ${batch}`;
          });
          await writer.flush();
        }
        await writer.shutdown();

        const storage = await at.open("reader");
        expect(await storage.hasDocument(handle.documentId)).toBe(true);
        // A snapshot and incremental chunks: the reader puts several chunks together.
        const chunks = await storage.loadRange([handle.documentId]);
        expect(new Set(chunks.map((chunk) => chunk.key[1]))).toEqual(
          new Set(["snapshot", "incremental"]),
        );
        const reader = new Repo({ storage });
        const loaded = await reader.find<{ records: Record<string, string> }>(handle.url);
        expect(loaded.doc().records).toEqual({
          ...initial,
          "cid-0": "record 0",
          "cid-1": "record 1",
          "cid-2": "record 2",
        });
        expect(loaded.heads()).toEqual(handle.heads());
        await reader.shutdown();
      } finally {
        await at.teardown();
      }
    });

    it("treats removing a key or a range that was never saved as done", async () => {
      const at = await place();
      try {
        const storage = await at.open("test");
        await expect(storage.remove(["AAAAA", "snapshot", "never"])).resolves.toBeUndefined();
        await expect(storage.removeRange(["BBBBB"])).resolves.toBeUndefined();
        expect(await storage.hasDocument("AAAAA")).toBe(false);
      } finally {
        await at.teardown();
      }
    });
  });
}

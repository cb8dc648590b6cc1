import { mkdir, readdir, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CanonError } from "@canon/core";
import { CHUNK_KINDS, countStoredDocuments, FileStorage, pathOfKey } from "@canon/store";
import type { RelayStorage } from "./relay-storage.js";
import { singleFlight } from "./single-flight.js";

/**
 * The embedded default: documents in a directory, through `FileStorage`
 * (atomic writes, checksums). One relay process per directory.
 */
export class DirectoryStorage implements RelayStorage {
  readonly adapter: FileStorage;
  readonly location: string;

  /** Documents under `directory` (see {@link openDirectoryStorage}, which checks it can be written). */
  constructor(directory: string) {
    this.location = directory;
    this.adapter = new FileStorage(directory);
  }

  async hasDocument(documentId: string): Promise<boolean> {
    try {
      return (await stat(pathOfKey(this.location, [documentId]))).isDirectory();
    } catch {
      return false;
    }
  }

  async storedBytes(documentId: string): Promise<number> {
    let total = 0;
    for (const kind of CHUNK_KINDS) {
      const folder = pathOfKey(this.location, [documentId, kind]);
      let names: string[];
      try {
        names = await readdir(folder);
      } catch {
        continue;
      }
      for (const name of names) {
        try {
          total += (await stat(join(folder, name))).size;
        } catch {
          // Compacted away while we listed it.
        }
      }
    }
    return total;
  }

  /** Walks the directory; callers while a walk runs share it (see `single-flight.ts`). */
  readonly countDocuments: () => Promise<number> = singleFlight(() =>
    countStoredDocuments(this.location),
  );

  async unhealthy(): Promise<string | undefined> {
    return undefined;
  }

  async close(): Promise<void> {}
}

/**
 * Opens the directory storage, creating the directory.
 * @throws CanonError `STORAGE_UNWRITABLE` when the directory cannot be written.
 */
export async function openDirectoryStorage(directory: string): Promise<DirectoryStorage> {
  try {
    await mkdir(directory, { recursive: true });
    const probe = join(directory, `.write-probe-${process.pid}`);
    await writeFile(probe, "");
    await unlink(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `cannot write to the data directory ${directory} (${code})`,
    );
  }
  return new DirectoryStorage(directory);
}

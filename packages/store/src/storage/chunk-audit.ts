import { open, readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { unchecksummed } from "./checksummed.js";
import { isChunkKey, isTemporaryFile } from "./chunk-layout.js";
import { PACKS_FOLDER, readChunkPackIndex } from "./chunk-pack.js";
import { STORAGE_FILE_TAG } from "./file-storage.js";

/** One stored file that fails its checksum, with what to do about it. */
export interface DamagedFile {
  /** The file's absolute path. */
  readonly path: string;
  /** The document it belongs to, when the path names one. */
  readonly documentId: string | undefined;
  /** `chunk` for a document's content; `other` for per-document sync state and the storage id, which are rebuilt. */
  readonly kind: "chunk" | "other";
  /** What is wrong: no Canon header (truncated or foreign), a checksum mismatch, or unreadable. */
  readonly damage: "no header" | "checksum mismatch" | "unreadable";
  /** What a person should do, in one sentence. */
  readonly fix: string;
}

/**
 * Reads every file of a replica's storage directory and checks it the way
 * `FileStorage` does on load (Canon header, sha-256), so damage is found
 * before a command trips over it, not only in the documents a command
 * happens to load. Reads each file once, sequentially (a large replica opened
 * all at once hits EMFILE); a missing directory is an empty replica.
 */
export async function auditChunks(directory: string): Promise<DamagedFile[]> {
  const damaged: DamagedFile[] = await auditPacks(directory);
  for (const path of await storedFiles(directory)) {
    if (path.startsWith(`${join(directory, PACKS_FOLDER)}${sep}`)) continue;
    const key = keyOfPath(directory, path);
    let damage: DamagedFile["damage"] | undefined;
    try {
      const opened = unchecksummed(STORAGE_FILE_TAG, await readFile(path));
      if ("damage" in opened) damage = opened.damage;
    } catch {
      damage = "unreadable";
    }
    if (damage === undefined) continue;
    const kind = isChunkKey(key) ? "chunk" : "other";
    damaged.push({
      path,
      documentId: key.length > 1 ? key[0] : undefined,
      kind,
      damage,
      fix:
        kind === "chunk"
          ? `move ${path} away (or delete it) and run \`canon sync\` to fetch the document again from a relay or peer; if no peer has it (never synced), restore the file from a backup`
          : `delete ${path}; it is rebuilt on the next sync`,
    });
  }
  return damaged;
}

/**
 * Checks every chunk pack (`chunk-pack.ts`) as a load does: its index, then
 * each chunk's own checksum. A damaged pack is named once, with the first
 * damage found; moving it away drops its documents, which a sync fetches again.
 */
async function auditPacks(directory: string): Promise<DamagedFile[]> {
  const folder = join(directory, PACKS_FOLDER);
  const names = (await readdir(folder).catch(() => [] as string[])).filter((name) =>
    name.endsWith(".pack"),
  );
  const damaged: DamagedFile[] = [];
  for (const name of names.sort()) {
    const path = join(folder, name);
    const report = (damage: DamagedFile["damage"], documentId?: string): DamagedFile => ({
      path,
      documentId,
      kind: "chunk",
      damage,
      fix: `move ${path} away (or delete it) and run \`canon sync\` to fetch its documents again from a relay or peer`,
    });
    let chunks: ReturnType<typeof readChunkPackIndex>;
    try {
      chunks = readChunkPackIndex(path);
    } catch (error) {
      const message = error instanceof Error ? error.message : "";
      damaged.push(report(/checksum/.test(message) ? "checksum mismatch" : "no header"));
      continue;
    }
    try {
      const file = await open(path, "r");
      try {
        for (const chunk of chunks) {
          const bytes = Buffer.alloc(chunk.length);
          await file.read(bytes, 0, chunk.length, chunk.offset);
          const opened = unchecksummed(STORAGE_FILE_TAG, bytes);
          if ("damage" in opened) {
            damaged.push(report(opened.damage, chunk.documentId));
            break;
          }
        }
      } finally {
        await file.close();
      }
    } catch {
      damaged.push(report("unreadable"));
    }
  }
  return damaged;
}

/** The storage key a file under `directory` holds (`chunk-layout.ts` reversed). */
function keyOfPath(directory: string, path: string): string[] {
  const [prefix = "", rest = "", ...more] = relative(directory, path).split(sep);
  return [`${prefix}${rest}`, ...more];
}

/** Every file under `directory`, depth first, sorted, without stray temporary files. */
async function storedFiles(directory: string): Promise<string[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (isTemporaryFile(entry.name)) continue;
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await storedFiles(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

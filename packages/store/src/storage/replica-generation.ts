import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../home/atomic-write.js";

// The replica's generation: one small file that every writer of a replica's
// chunk files changes, so that "nothing was written since" costs one read
// instead of a listing of every document (docs/decisions/2026-11-29-flat-costs.md).
//
// - `<replica>.generation` holds a random token. A writer replaces it with a
//   new one (atomically) *before* its first chunk write of a batch, durably,
//   and again *after* each chunk write or removal. So once a token was read,
//   any chunk written later (by any process, crashed or not) comes with a
//   token change before it.
// - `<replica>.writers/` holds one file per process in the middle of a batch
//   (`<pid>-<random>`), created before the batch's first write and removed
//   when the batch ends (the replica closed, or flushed and its caches
//   written). A token read while such a file exists proves nothing: its
//   writer may have changed the token already and still be writing.
//
// What the token proves is recorded per space by the cache writers
// (`caches/disk-proof.ts`): "at token T, the chunk files on disk were
// exactly these". They take the token before listing the files and check it
// again after, with no other writer's file present throughout.

/** The file holding a replica's generation token. */
export function generationPath(directory: string): string {
  return `${directory}.generation`;
}

/** The folder of a replica's writers in the middle of a batch. */
export function writersPath(directory: string): string {
  return `${directory}.writers`;
}

/** A replica's generation as read now: its token, and when it last changed (ms, the file system's clock). */
export interface Generation {
  readonly token: string;
  readonly changedMs: number;
}

/** The replica's generation, or undefined when it has none yet (or it cannot be read). Synchronous: one small file. */
export function readGeneration(directory: string): Generation | undefined {
  const path = generationPath(directory);
  try {
    const token = readFileSync(path, "utf8");
    const { mtimeMs } = statSync(path);
    return /^[0-9a-f]{32}$/.test(token) ? { token, changedMs: mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the token with a new one: durably when a batch starts (a crash must never keep the old token). */
export async function bumpGeneration(directory: string, durable: boolean): Promise<string> {
  const token = randomBytes(16).toString("hex");
  await writeFileAtomic(generationPath(directory), token, 0o644, false, durable);
  return token;
}

/**
 * One process's writes to a replica's chunk files, as the generation
 * protocol wants them: a writer's file and a durable new token before the
 * first, a new token after each, the writer's file removed at the end.
 */
export class GenerationWriter {
  readonly #directory: string;
  #batch: string | undefined;
  #opening: Promise<void> | undefined;
  #inFlight = 0;

  /** Writes the generation of the replica stored in `directory`. */
  constructor(directory: string) {
    this.#directory = directory;
  }

  /** Chunk writes under way in this process now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The name of this process's writer file while a batch is open. */
  get batch(): string | undefined {
    return this.#batch;
  }

  /** Runs one chunk write or removal inside a batch, with a new token after it. */
  async write<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      await this.#open();
      const result = await work();
      await bumpGeneration(this.#directory, false);
      return result;
    } finally {
      this.#inFlight--;
    }
  }

  async #open(): Promise<void> {
    if (this.#batch !== undefined) return;
    this.#opening ??= (async () => {
      const name = `${process.pid}-${randomBytes(6).toString("hex")}`;
      await mkdir(writersPath(this.#directory), { recursive: true });
      await writeFile(join(writersPath(this.#directory), name), "");
      await bumpGeneration(this.#directory, true);
      this.#batch = name;
    })().finally(() => {
      this.#opening = undefined;
    });
    await this.#opening;
  }

  /**
   * Ends the batch (removes this process's writer file) when no write is
   * under way; the next write opens a new one. Returns false when a write
   * is still under way.
   */
  async end(): Promise<boolean> {
    if (this.#inFlight > 0 || this.#opening !== undefined) return false;
    const batch = this.#batch;
    if (batch === undefined) return true;
    this.#batch = undefined;
    await rm(join(writersPath(this.#directory), batch), { force: true });
    return true;
  }
}

/**
 * The writer files of other processes (not `own`), after removing those of
 * processes that no longer run: a writer killed mid-batch leaves its file,
 * and its writes, whatever they were, are final once it is gone.
 */
export async function otherWriters(directory: string, own: string | undefined): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(writersPath(directory));
  } catch {
    return [];
  }
  const others: string[] = [];
  for (const name of names) {
    if (name === own || name.includes(".tmp-")) continue;
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isRunning(pid)) {
      await rm(join(writersPath(directory), name), { force: true });
      continue;
    }
    others.push(name);
  }
  return others;
}

/** The writer files present now other than `own`, without removing any (for the check after a listing). */
export function writersPresent(directory: string, own: string | undefined): string[] {
  try {
    return readdirSync(writersPath(directory)).filter((name) => name !== own);
  } catch {
    return [];
  }
}

/** True when a process with this id runs (or exists but is another user's). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

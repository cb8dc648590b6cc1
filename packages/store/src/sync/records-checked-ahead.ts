import { existsSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { MAX_RECORD_BYTES, type SignedRecord } from "@canon/core";
import { mapsAt } from "../space/document-maps.js";

/** Entries sent to the worker at once: few messages, and answers that start coming early. */
const CHECK_BATCH = 256;

/**
 * Where the worker's script is, beside this module's file: `record-checks-worker.js`
 * in the store's own build (`dist/sync/`), `record-checks-worker.mjs` in the
 * CLI's bundle (`dist/chunks/`, the second entry of `packages/cli/rollup.config.mjs`).
 * Run from sources (tests), neither exists, and records are checked by the fold.
 */
const WORKER_FILES = ["./record-checks-worker.js", "./record-checks-worker.mjs"];

/** A batch of entries for the worker, their bytes end to end in one transferred buffer. */
export interface CheckRequest {
  readonly batch: number;
  readonly cids: readonly string[];
  /** Where each entry's bytes start in `buffer`, and where the last one ends (one more than `cids`). */
  readonly offsets: readonly number[];
  readonly buffer: ArrayBuffer;
}

/** The worker's answer to a {@link CheckRequest}: the entries that passed `verifyRecord`, by index, with their parsed record. */
export interface CheckedBatch {
  readonly batch: number;
  readonly passed: readonly (readonly [number, unknown])[];
}

/**
 * True when this machine has a core to spare for a second thread: more
 * cores than the last minute's load average plus one (the join's own
 * thread). The worker's checks cost more CPU than the same checks on the
 * join's thread (its own start, code compiled again: 0.6 s against 0.3 s
 * for 10,000 records), which only pays when another core would otherwise
 * idle; on a busy machine they would take CPU from the join itself.
 */
export function coreToSpare(
  cores: number = availableParallelism(),
  load: number = loadavg()[0] ?? 0,
): boolean {
  return cores - 1 > load;
}

/** The worker's script found beside this module, or undefined (see {@link WORKER_FILES}). */
export function recordChecksWorkerFile(): URL | undefined {
  for (const name of WORKER_FILES) {
    const url = new URL(name, import.meta.url);
    if (url.protocol === "file:" && existsSync(fileURLToPath(url))) return url;
  }
  return undefined;
}

/**
 * Checks the records of documents as they are loaded, on a worker thread
 * (core's `verifyRecord`: the CID against the bytes, the encodings, the
 * schema, the signature), so that a join's fold finds them verified in this
 * process and its own thread, which loads the next documents meanwhile, does
 * not check them again. What it gives is what `verifyRecord` passed, with the
 * exact bytes it checked, for `SpaceReader`'s cache of verified records (by
 * CID, and taken only for an entry with the same bytes). An entry that fails
 * is not reported: the fold checks it and refuses it with its reason. If the
 * worker cannot start or fails, what it answered until then is given and the
 * fold checks the rest.
 */
export class RecordsCheckedAhead {
  readonly #worker: Worker;
  /** Batches sent and not answered, with the entries' CIDs and bytes as sent. */
  readonly #pending = new Map<number, { cids: string[]; bytes: Uint8Array[] }>();
  readonly #verified: SignedRecord[] = [];
  #cids: string[] = [];
  #bytes: Uint8Array[] = [];
  #size = 0;
  #batches = 0;
  #failed = false;
  /** True once the worker has loaded its code and said so. */
  #ready = false;
  #finished: (() => void) | undefined;
  /** What {@link finish} gives, once it was called. */
  #finishing: Promise<readonly SignedRecord[]> | undefined;
  /** Told when the worker says it is ready, or fails. */
  #started: (() => void) | undefined;

  /**
   * Starts the worker from `file` ({@link recordChecksWorkerFile} when not
   * given); undefined when there is none, or no core to spare
   * ({@link coreToSpare}, unless `always`): the fold then checks every record itself.
   */
  static start(
    file: URL | undefined = recordChecksWorkerFile(),
    always = false,
  ): RecordsCheckedAhead | undefined {
    if (file === undefined || !(always || coreToSpare())) return undefined;
    return new RecordsCheckedAhead(file);
  }

  private constructor(file: URL) {
    this.#worker = new Worker(file);
    this.#worker.on("message", (answer: CheckedBatch | "ready") => {
      if (answer === "ready") {
        this.#ready = true;
        this.#started?.();
      } else this.#take(answer);
    });
    const stop = () => {
      this.#failed = true;
      this.#pending.clear();
      this.#finished?.();
      this.#started?.();
    };
    this.#worker.on("error", stop);
    this.#worker.on("exit", stop);
  }

  /** Resolves once the worker has loaded its code and can answer (or has failed). */
  whenReady(): Promise<void> {
    if (this.#ready || this.#failed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#started = resolve;
    });
  }

  /** Sends every record entry `doc` holds (its `records` maps) to be checked. */
  add(doc: unknown): void {
    if (this.#failed) return;
    for (const records of mapsAt(doc, "records"))
      for (const [cid, bytes] of Object.entries(records)) {
        // Anything else is refused by the fold without a hash: not worth sending.
        if (!(bytes instanceof Uint8Array) || bytes.length > MAX_RECORD_BYTES) continue;
        this.#cids.push(cid);
        this.#bytes.push(bytes);
        this.#size += bytes.length;
        if (this.#cids.length >= CHECK_BATCH) this.#send();
      }
  }

  /**
   * Sends what is left, waits for every answer (or the worker's failure),
   * stops the worker, and gives the records that passed. A worker that has
   * not finished loading its code yet (a small answer, read before it
   * started) is stopped at once and nothing is given: the fold's own checks
   * of a few records take less than waiting for it.
   */
  finish(): Promise<readonly SignedRecord[]> {
    // Once: a second call (a caller's error path after its first) gets the same answer, and
    // never takes the first call's place as the one the last answer wakes.
    this.#finishing ??= this.#finishOnce();
    return this.#finishing;
  }

  async #finishOnce(): Promise<readonly SignedRecord[]> {
    if (!this.#ready) {
      this.#failed = true;
      await this.#worker.terminate();
      return [];
    }
    this.#send();
    if (!this.#failed && this.#pending.size > 0)
      await new Promise<void>((resolve) => {
        this.#finished = resolve;
      });
    this.#failed = true;
    await this.#worker.terminate();
    return this.#verified;
  }

  #send(): void {
    if (this.#failed || this.#cids.length === 0) return;
    const all = new Uint8Array(this.#size);
    const offsets = [0];
    for (const bytes of this.#bytes) {
      all.set(bytes, offsets.at(-1));
      offsets.push((offsets.at(-1) as number) + bytes.length);
    }
    const batch = this.#batches++;
    this.#pending.set(batch, { cids: this.#cids, bytes: this.#bytes });
    const request: CheckRequest = { batch, cids: this.#cids, offsets, buffer: all.buffer };
    this.#worker.postMessage(request, [all.buffer]);
    this.#cids = [];
    this.#bytes = [];
    this.#size = 0;
  }

  #take(answer: CheckedBatch): void {
    const sent = this.#pending.get(answer.batch);
    if (sent === undefined) return;
    this.#pending.delete(answer.batch);
    for (const [index, record] of answer.passed) {
      const cid = sent.cids[index];
      const bytes = sent.bytes[index];
      if (cid === undefined || bytes === undefined) continue;
      this.#verified.push({ cid, bytes, record: record as SignedRecord["record"] });
    }
    if (this.#pending.size === 0) this.#finished?.();
  }
}

import * as A from "@automerge/automerge";

// Why a join reserves Automerge's memory ahead (measured 2026-11-30, Node
// 20.20, Automerge 3.5.0, a join of 1,000 standards × 10 versions):
// Automerge's WebAssembly memory grows by a few pages at a time as documents
// load (to ~44 MB for that join), and each growth gives the memory a new
// `ArrayBuffer`, born in V8's young generation and accounted there at the
// memory's whole size until two scavenges promote it. While V8 counts 32 MB
// or more of young array-buffer bytes, it runs a scavenge before every new
// array buffer it allocates ("external memory pressure" in `--trace-gc`),
// and each loaded document allocates one per value it holds (a record, a
// content). Past ~32 MB of Automerge memory, nearly every allocation
// scavenged: ~400 scavenges in a join, most of its garbage collection. The
// semi-space flags do not move that 32 MB. Memory Automerge's allocator
// holds free is never returned, so one large allocation, freed at once,
// leaves room for what the documents need next without growing again.

/** Automerge memory a bulk answer's documents take per byte received (~14 measured, with a margin). */
const MEMORY_PER_BYTE = 16;

/** Below this much expected memory no reservation is made: V8's pressure rule starts at 32 MB. */
const RESERVE_FROM = 16 * 1024 * 1024;

/** The first reservation; each later one reserves as much as those before it together. */
const FIRST_RESERVATION = 64 * 1024 * 1024;

/**
 * Most memory reserved in all, whatever the bytes received: a bulk answer
 * may bring 512 MiB, which times {@link MEMORY_PER_BYTE} is 8 GiB, past
 * what Automerge's memory can hold (4 GiB) and what a machine may have, so
 * a relay could otherwise have a client take gigabytes it never uses. Past
 * this bound the memory grows page by page again, as without a reservation.
 */
export const MOST_RESERVED = 256 * 1024 * 1024;

/**
 * Keeps Automerge's WebAssembly memory ahead of what a stream of documents
 * will need, so that it grows a few times in large steps rather than a few
 * pages at a time (see above). Told the bytes received so far, it expects
 * {@link MEMORY_PER_BYTE} times as much memory, and each time that passes
 * what it has reserved, it reserves as much again (64 MB first, then
 * doubling the total): Automerge's allocator extends its free space at the
 * top of the memory, so each step grows the memory by about that much. A
 * reservation is a failing `A.load` of that many zero bytes, which copies
 * them into Automerge's memory and frees them: ~10–60 ms for 64 MB, pages the
 * documents then use. Documents that compress far better than a space's
 * signed records (which do not compress) need more memory than expected,
 * which only brings back some growths past the reservation, as does a
 * space past {@link MOST_RESERVED}. Changes nothing a document holds, and
 * never throws.
 */
export class AutomergeMemoryReserve {
  readonly #most: number;
  #reserved = 0;

  /** Reserves at most `most` bytes in all ({@link MOST_RESERVED} unless told less). */
  constructor(options: { readonly most?: number } = {}) {
    this.#most = Math.min(options.most ?? MOST_RESERVED, MOST_RESERVED);
  }

  /** Bytes reserved so far, in all. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Makes room ahead, if needed, for documents totalling `receivedBytes` encoded. */
  received(receivedBytes: number): void {
    const expected = receivedBytes * MEMORY_PER_BYTE;
    if (expected < RESERVE_FROM) return;
    while (expected > this.#reserved && this.#reserved < this.#most) {
      const step = Math.min(
        Math.max(FIRST_RESERVATION, this.#reserved),
        this.#most - this.#reserved,
      );
      reserveAutomergeMemory(step);
      this.#reserved += step;
    }
  }
}

/**
 * Has Automerge's allocator take `bytes` of its WebAssembly memory and free
 * them at once, so the memory has at least that much free (growing once to
 * get it, if it must). Never throws.
 */
export function reserveAutomergeMemory(bytes: number): void {
  try {
    // Zero bytes are no document: Automerge refuses them after copying them in.
    A.load(new Uint8Array(bytes));
  } catch {
    // The refusal is the point; the copy has been freed.
  }
}

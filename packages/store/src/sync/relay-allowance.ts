/**
 * What a client takes from one connection to a relay, at most: a relay is
 * unsigned transport, and one that is broken or hostile could otherwise
 * send a document of gigabytes (a sync message may be up to 100 MiB, and
 * there may be any number of them), grow a document the client holds
 * without end, or send changes each costing a copy of a large document to
 * check, so that a sync, a watch or the home's owner eats the memory and
 * disk of the machine or does nothing else.
 */

const MIB = 1024 * 1024;

/**
 * Most bytes of changes one connection may bring to one document: twice a
 * relay's limit on a document (32 MiB by default), since changes sent one
 * by one are larger than the compressed document they make.
 */
export const RELAY_DOCUMENT_BYTES = 64 * MIB;

/** Most bytes of changes one connection may bring in all: what a join's bulk answer may bring. */
export const RELAY_CONNECTION_BYTES = 512 * MIB;

/**
 * Largest message a client takes from a relay: a document's changes at most,
 * and a little more. `ws` takes up to 100 MiB, and inflates compressed
 * messages (permessage-deflate, which the client offers) up to that too:
 * a relay could make a client decode 100 MiB from a 100 KB frame, again and
 * again, in messages carrying no change at all (heads, bloom filters).
 */
export const RELAY_MESSAGE_BYTES = RELAY_DOCUMENT_BYTES + MIB;

/** Most bytes of messages, changes or not, one connection may bring in all. */
export const RELAY_CONNECTION_MESSAGE_BYTES = 2 * RELAY_CONNECTION_BYTES;

/**
 * Most milliseconds a minute that trying a relay's changes on a copy of a
 * document (only for changes that create objects, in a document this side
 * holds) may take: a copy costs in proportion to the document, and 100
 * bytes of change to a 20 MB document cost a second.
 */
export const RELAY_CHECK_MS_PER_MINUTE = 10_000;

/** Limits other than the defaults (tests use small ones; a relay peering with another, its own). */
export interface RelayAllowanceLimits {
  readonly documentBytes?: number;
  readonly connectionBytes?: number;
  readonly checkMsPerMinute?: number;
  readonly messageBytes?: number;
  readonly connectionMessageBytes?: number;
}

/**
 * Counts what one connection to a relay brought: the bytes of changes per
 * document and in all, and the time spent trying changes on copies (a token
 * bucket refilled over a minute). Each method answers why a message must
 * be refused, or undefined (and counts it).
 */
export class RelayAllowance {
  readonly #documentBytes = new Map<string, number>();
  #connectionBytes = 0;
  #messageBytes = 0;
  #checkMs = RELAY_CHECK_MS_PER_MINUTE;
  #checkedAt = Date.now();
  readonly #limits: {
    readonly documentBytes: number;
    readonly connectionBytes: number;
    readonly checkMsPerMinute: number;
    readonly messageBytes: number;
    readonly connectionMessageBytes: number;
  };

  /** An allowance with the default limits, or those given. */
  constructor(limits: RelayAllowanceLimits = {}) {
    this.#limits = {
      documentBytes: limits.documentBytes ?? RELAY_DOCUMENT_BYTES,
      connectionBytes: limits.connectionBytes ?? RELAY_CONNECTION_BYTES,
      checkMsPerMinute: limits.checkMsPerMinute ?? RELAY_CHECK_MS_PER_MINUTE,
      messageBytes: limits.messageBytes ?? RELAY_MESSAGE_BYTES,
      connectionMessageBytes: limits.connectionMessageBytes ?? RELAY_CONNECTION_MESSAGE_BYTES,
    };
    this.#checkMs = this.#limits.checkMsPerMinute;
  }

  /** Why a message of `bytes` (as received, inflated) is too large, or one too many, or undefined (and it is counted). */
  takeMessage(bytes: number): string | undefined {
    if (bytes > this.#limits.messageBytes)
      return `a message of ${bytes} bytes (at most ${mib(this.#limits.messageBytes)} are taken)`;
    if (this.#messageBytes + bytes > this.#limits.connectionMessageBytes)
      return `more than ${mib(this.#limits.connectionMessageBytes)} of messages over one connection`;
    this.#messageBytes += bytes;
    return undefined;
  }

  /** Why `bytes` more of changes to `documentId` are too many, or undefined (and they are counted). */
  takeChanges(documentId: string, bytes: number): string | undefined {
    if (bytes === 0) return undefined;
    const document = (this.#documentBytes.get(documentId) ?? 0) + bytes;
    if (document > this.#limits.documentBytes)
      return `more than ${mib(this.#limits.documentBytes)} of changes to ${documentId}`;
    if (this.#connectionBytes + bytes > this.#limits.connectionBytes)
      return `more than ${mib(this.#limits.connectionBytes)} of changes over one connection`;
    this.#documentBytes.set(documentId, document);
    this.#connectionBytes += bytes;
    return undefined;
  }

  /** Why no more changes may be tried on a copy of a held document now, or undefined. */
  mayCheck(): string | undefined {
    this.#refill();
    return this.#checkMs > 0
      ? undefined
      : `changes that took more than ${this.#limits.checkMsPerMinute / 1000} s a minute to try on copies of documents`;
  }

  /** Counts `ms` spent trying changes on a copy. */
  spendCheck(ms: number): void {
    this.#refill();
    this.#checkMs -= ms;
  }

  #refill(): void {
    const now = Date.now();
    const perMinute = this.#limits.checkMsPerMinute;
    this.#checkMs = Math.min(
      perMinute,
      this.#checkMs + ((now - this.#checkedAt) * perMinute) / 60_000,
    );
    this.#checkedAt = now;
  }
}

function mib(bytes: number): string {
  return bytes >= MIB ? `${Math.round(bytes / MIB)} MiB` : `${bytes} bytes`;
}

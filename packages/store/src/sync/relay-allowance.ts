/**
 * What a client takes from one relay, at most, in one process: a relay is
 * unsigned transport, and one that is broken or hostile could otherwise
 * send a document of gigabytes (a sync message may be up to 100 MiB, and
 * there may be any number of them), grow a document the client holds
 * without end, or send changes each costing a copy of a large document to
 * check, so that a sync, a watch or the home's owner eats the memory and
 * disk of the machine or does nothing else.
 *
 * The allowance is kept per relay for the life of the process
 * ({@link relayAllowanceOf}), not per connection: a relay closing the
 * connection (or making the client close it) would otherwise start a fresh
 * one at every reconnection, and a watch, the owner or the MCP server
 * reconnect for as long as they run. Byte allowances refill over a day
 * ({@link RELAY_ALLOWANCE_REFILL_MS}) rather than never: a process running
 * for weeks keeps taking an honest relay's changes, while a hostile relay
 * adds at most one allowance a day to each document.
 */

const MIB = 1024 * 1024;

/**
 * Most bytes of changes one relay may bring to one document: twice a
 * relay's limit on a document (32 MiB by default), since changes sent one
 * by one are larger than the compressed document they make.
 */
export const RELAY_DOCUMENT_BYTES = 64 * MIB;

/** Most bytes of changes one relay may bring in all: what a join's bulk answer may bring. */
export const RELAY_CONNECTION_BYTES = 512 * MIB;

/**
 * Largest message a client takes from a relay: a document's changes at most,
 * and a little more. `ws` takes up to 100 MiB, and inflates compressed
 * messages (permessage-deflate, which the client offers) up to that too:
 * a relay could make a client decode 100 MiB from a 100 KB frame, again and
 * again, in messages carrying no change at all (heads, bloom filters).
 */
export const RELAY_MESSAGE_BYTES = RELAY_DOCUMENT_BYTES + MIB;

/** Most bytes of messages, changes or not, one relay may bring in all. */
export const RELAY_CONNECTION_MESSAGE_BYTES = 2 * RELAY_CONNECTION_BYTES;

/**
 * Most milliseconds a minute that trying a relay's changes on a copy of a
 * document (only for changes that create objects, in a document this side
 * holds) may take: a copy costs in proportion to the document, and 100
 * bytes of change to a 20 MB document cost a second.
 */
export const RELAY_CHECK_MS_PER_MINUTE = 10_000;

/**
 * How long a spent byte allowance takes to refill whole (linearly): a day.
 * An honest document of a relay's largest size comes once, whole, and then
 * grows by small changes; a day's refill keeps a long-running process
 * taking them, while a hostile relay reconnecting adds at most 64 MiB a day
 * to each document instead of 64 MiB at every reconnection.
 */
export const RELAY_ALLOWANCE_REFILL_MS = 24 * 60 * 60 * 1000;

/** Limits other than the defaults (tests use small ones; a relay peering with another, its own). */
export interface RelayAllowanceLimits {
  readonly documentBytes?: number;
  readonly connectionBytes?: number;
  readonly checkMsPerMinute?: number;
  readonly messageBytes?: number;
  readonly connectionMessageBytes?: number;
  /** Milliseconds for a spent byte allowance to refill whole ({@link RELAY_ALLOWANCE_REFILL_MS}). */
  readonly refillMs?: number;
}

/** The clock an allowance reads (tests give their own). */
export type AllowanceClock = () => number;

/**
 * Counts what a relay brought: the bytes of messages and of changes, per
 * document and in all (each refilling linearly over
 * {@link RELAY_ALLOWANCE_REFILL_MS}), and the time spent trying changes on
 * copies (a token bucket refilled over a minute). Each method answers why a
 * message must be refused, or undefined (and counts it).
 */
export class RelayAllowance {
  readonly #documentBytes = new Map<string, SpentBytes>();
  readonly #relayBytes: SpentBytes;
  readonly #messageBytes: SpentBytes;
  #checkMs = RELAY_CHECK_MS_PER_MINUTE;
  #checkedAt: number;
  readonly #now: AllowanceClock;
  readonly #limits: {
    readonly documentBytes: number;
    readonly connectionBytes: number;
    readonly checkMsPerMinute: number;
    readonly messageBytes: number;
    readonly connectionMessageBytes: number;
    readonly refillMs: number;
  };

  /** An allowance with the default limits, or those given, read on `now` (the wall clock by default). */
  constructor(limits: RelayAllowanceLimits = {}, now: AllowanceClock = Date.now) {
    this.#limits = {
      documentBytes: limits.documentBytes ?? RELAY_DOCUMENT_BYTES,
      connectionBytes: limits.connectionBytes ?? RELAY_CONNECTION_BYTES,
      checkMsPerMinute: limits.checkMsPerMinute ?? RELAY_CHECK_MS_PER_MINUTE,
      messageBytes: limits.messageBytes ?? RELAY_MESSAGE_BYTES,
      connectionMessageBytes: limits.connectionMessageBytes ?? RELAY_CONNECTION_MESSAGE_BYTES,
      refillMs: limits.refillMs ?? RELAY_ALLOWANCE_REFILL_MS,
    };
    this.#now = now;
    this.#checkMs = this.#limits.checkMsPerMinute;
    this.#checkedAt = now();
    this.#relayBytes = new SpentBytes(this.#limits.connectionBytes, this.#limits.refillMs, now);
    this.#messageBytes = new SpentBytes(
      this.#limits.connectionMessageBytes,
      this.#limits.refillMs,
      now,
    );
  }

  /** Why a message of `bytes` (as received, inflated) is too large, or one too many, or undefined (and it is counted). */
  takeMessage(bytes: number): string | undefined {
    if (bytes > this.#limits.messageBytes)
      return `a message of ${bytes} bytes (at most ${mib(this.#limits.messageBytes)} are taken)`;
    if (!this.#messageBytes.take(bytes))
      return `more than ${mib(this.#limits.connectionMessageBytes)} of messages ${this.#over()}`;
    return undefined;
  }

  /** Why `bytes` more of changes to `documentId` are too many, or undefined (and they are counted). */
  takeChanges(documentId: string, bytes: number): string | undefined {
    if (bytes === 0) return undefined;
    let document = this.#documentBytes.get(documentId);
    if (document === undefined) {
      document = new SpentBytes(this.#limits.documentBytes, this.#limits.refillMs, this.#now);
      this.#documentBytes.set(documentId, document);
    }
    if (!document.fits(bytes))
      return `more than ${mib(this.#limits.documentBytes)} of changes to ${documentId} ${this.#over()}`;
    if (!this.#relayBytes.take(bytes))
      return `more than ${mib(this.#limits.connectionBytes)} of changes ${this.#over()}`;
    document.take(bytes);
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

  /** The span a byte allowance covers, for a refusal's words. */
  #over(): string {
    const { refillMs } = this.#limits;
    return refillMs === RELAY_ALLOWANCE_REFILL_MS
      ? "from this relay in a day"
      : `from this relay in ${refillMs / 1000} s`;
  }

  #refill(): void {
    const now = this.#now();
    const perMinute = this.#limits.checkMsPerMinute;
    this.#checkMs = Math.min(
      perMinute,
      this.#checkMs + ((now - this.#checkedAt) * perMinute) / 60_000,
    );
    this.#checkedAt = now;
  }
}

/** Bytes spent of an allowance of `limit`, given back linearly over `refillMs`. */
class SpentBytes {
  #spent = 0;
  #at: number;
  readonly #limit: number;
  readonly #refillMs: number;
  readonly #now: AllowanceClock;

  constructor(limit: number, refillMs: number, now: AllowanceClock) {
    this.#limit = limit;
    this.#refillMs = refillMs;
    this.#now = now;
    this.#at = now();
  }

  /** Whether `bytes` more fit now. */
  fits(bytes: number): boolean {
    this.#refill();
    return this.#spent + bytes <= this.#limit;
  }

  /** Counts `bytes` when they fit; false (nothing counted) when they do not. */
  take(bytes: number): boolean {
    if (!this.fits(bytes)) return false;
    this.#spent += bytes;
    return true;
  }

  #refill(): void {
    const now = this.#now();
    if (Number.isFinite(this.#limit) && this.#refillMs > 0)
      this.#spent = Math.max(0, this.#spent - ((now - this.#at) * this.#limit) / this.#refillMs);
    this.#at = now;
  }
}

/** Each relay's allowance in this process, by the relay's address and the limits asked for. */
const allowances = new Map<string, RelayAllowance>();

/**
 * The allowance of the relay at `url` in this process, made on first use:
 * every connection to it (a watch's reconnections, each sync of the owner
 * or the MCP server, a peering relay's retries) draws on the same one, so
 * reconnecting does not refill it. The relay is its URL without query or
 * fragment (a token) or user info; clients asking for other limits (a
 * peering relay, tests) have an allowance of their own.
 */
export function relayAllowanceOf(url: string, limits: RelayAllowanceLimits = {}): RelayAllowance {
  const key = `${relayOf(url)} ${JSON.stringify(limits, (_key, value) => (value === Number.POSITIVE_INFINITY ? "Infinity" : value))}`;
  let allowance = allowances.get(key);
  if (allowance === undefined) {
    allowance = new RelayAllowance(limits);
    allowances.set(key, allowance);
  }
  return allowance;
}

/** A relay's address as an allowance is kept under: scheme, host and path. */
function relayOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return url;
  }
}

function mib(bytes: number): string {
  return bytes >= MIB ? `${Math.round(bytes / MIB)} MiB` : `${bytes} bytes`;
}

import { CanonError } from "@canon/core";

const MIB = 1024 * 1024;

/**
 * What one connection may send, and how large a document the relay keeps.
 * Every peer is hostile until proven otherwise, and a relay has no way to
 * prove otherwise (it verifies nothing), so these bound what any single
 * connection can cost it. A peer over a limit is disconnected and logged.
 */
export interface RelayLimits {
  /**
   * Largest WebSocket message accepted, in bytes (the `ws` `maxPayload`).
   * A first sync of a document sends every change in one message, so this
   * must be at least {@link RelayLimits.maxDocumentBytes} for a client to
   * push a document of the largest size allowed.
   */
  readonly maxMessageBytes: number;
  /** Largest document the relay stores, in bytes (its chunks on disk plus changes accepted since). */
  readonly maxDocumentBytes: number;
  /** Bytes one connection may send per minute (a token bucket of this size, refilled over a minute). */
  readonly receiveBytesPerMinute: number;
  /** Bytes of new Automerge changes one remote address may write per minute, over all documents and all its connections. */
  readonly writeBytesPerMinute: number;
  /** Documents the relay did not hold that one remote address may create (or ask for) per minute, over all its connections. */
  readonly newDocumentsPerMinute: number;
  /** `GET /heads/<space>` requests one remote address may make per minute (answered 429 past it). */
  readonly headsRequestsPerMinute: number;
  /**
   * Milliseconds of the relay's one thread that checking one remote
   * address's changes may take per minute. Each sync message carrying
   * changes is applied to a copy of its document first, and copying a
   * document costs in proportion to the document, not the message: 112
   * bytes of change to a 20 MB document cost a second. Past the budget the
   * address's next message waits (it is not refused) until the budget has
   * refilled, so it slows its own syncs, not every tenant's.
   */
  readonly checkMillisPerMinute: number;
}

/**
 * The limits a relay runs with unless told otherwise. A release's content is
 * at most 4 MiB (`MAX_CONTENT_BYTES`), so a 32 MiB document still holds
 * several of the largest releases, and a standard of ordinary text holds
 * thousands; past that, opening it takes seconds on every command. The
 * per-minute budgets allow a client to push a full-size document at once and
 * a space of many documents to a fresh relay, while a flood stops within a
 * minute's worth of traffic.
 */
export const DEFAULT_LIMITS: RelayLimits = {
  maxMessageBytes: 32 * MIB,
  maxDocumentBytes: 32 * MIB,
  receiveBytesPerMinute: 64 * MIB,
  writeBytesPerMinute: 32 * MIB,
  newDocumentsPerMinute: 1000,
  headsRequestsPerMinute: 600,
  checkMillisPerMinute: 15_000,
};

/** Some limits to change; the others (and any left undefined) keep their defaults. */
export type LimitOverrides = { readonly [name in keyof RelayLimits]?: number | undefined };

/** The limits given, with defaults for the ones left out. */
export function limitsWith(overrides: LimitOverrides | undefined): RelayLimits {
  const chosen = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(overrides ?? {})) {
    if (value !== undefined) chosen[name as keyof RelayLimits] = value;
  }
  return chosen;
}

/** The `CANON_RELAY_*` variable (and `canon relay` flag) setting each limit. */
export const LIMIT_SETTINGS: Readonly<
  Record<keyof RelayLimits, { variable: string; flag: string }>
> = {
  maxMessageBytes: { variable: "CANON_RELAY_MAX_MESSAGE_BYTES", flag: "--max-message-bytes" },
  maxDocumentBytes: { variable: "CANON_RELAY_MAX_DOCUMENT_BYTES", flag: "--max-document-bytes" },
  receiveBytesPerMinute: {
    variable: "CANON_RELAY_RECEIVE_BYTES_PER_MINUTE",
    flag: "--receive-bytes-per-minute",
  },
  writeBytesPerMinute: {
    variable: "CANON_RELAY_WRITE_BYTES_PER_MINUTE",
    flag: "--write-bytes-per-minute",
  },
  newDocumentsPerMinute: {
    variable: "CANON_RELAY_NEW_DOCUMENTS_PER_MINUTE",
    flag: "--new-documents-per-minute",
  },
  headsRequestsPerMinute: {
    variable: "CANON_RELAY_HEADS_REQUESTS_PER_MINUTE",
    flag: "--heads-requests-per-minute",
  },
  checkMillisPerMinute: {
    variable: "CANON_RELAY_CHECK_MILLIS_PER_MINUTE",
    flag: "--check-millis-per-minute",
  },
};

/**
 * Parses a limit given as text (a variable or a flag called `name`): a whole
 * number of at least 1.
 * @throws CanonError `BAD_ARGUMENT` naming `name` otherwise.
 */
export function parseLimit(value: string, name: string): number {
  const parsed = /^[0-9]{1,15}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < 1)
    throw new CanonError(
      "BAD_ARGUMENT",
      `${name} must be a whole number of at least 1, not ${JSON.stringify(value)}`,
    );
  return parsed;
}

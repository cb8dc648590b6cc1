import type { CanonErrorCode } from "@canon/core";

/**
 * The `canon` CLI's exit statuses by error code, stable for scripts (the
 * README's table): 1 unexpected, 2 bad input, 3 not found, 4 local storage
 * or config, 5 network, 6 not allowed, 7 an output does not verify against
 * its stamp, 8 the view is not proven fresh (`--require-fresh`), 9 a project is not current with its
 * canon.json and canon.lock (`status --check`, `pull --frozen`), 10 an output verifies but was made from
 * context stale when stamped (`verify --strict`). A policy of this command, not of the records, so it lives here
 * rather than in core; the relay app keeps its own table of the few codes it
 * can fail with, which a test holds to this one.
 */
const STATUS: Record<CanonErrorCode, number> = {
  BAD_ARGUMENT: 2,
  BAD_CID: 2,
  BAD_DID: 2,
  BAD_URL: 2,
  BAD_RECORD: 2,
  NO_IDENTITY: 3,
  NO_SPACE: 3,
  UNKNOWN_SPACE: 3,
  UNKNOWN_STANDARD: 3,
  UNKNOWN_VERSION: 3,
  UNKNOWN_CORRECTION: 3,
  AMBIGUOUS_VERSION: 3,
  FILE_UNREADABLE: 3,
  BAD_CONFIG: 4,
  STORAGE_DAMAGED: 4,
  STORAGE_UNWRITABLE: 4,
  PORT_UNAVAILABLE: 4,
  IDENTITY_UNPROTECTED: 4,
  RELAY_UNREACHABLE: 5,
  RELAY_REFUSED: 5,
  SYNC_TIMEOUT: 5,
  NOT_A_MEMBER: 6,
  NOT_VERIFIED: 7,
  NOT_FRESH: 8,
  PROJECT_DRIFT: 9,
  STALE_WHEN_STAMPED: 10,
};

/** The exit status `canon` ends with for an error code. */
export function exitStatusOf(code: CanonErrorCode): number {
  return STATUS[code] ?? 1;
}

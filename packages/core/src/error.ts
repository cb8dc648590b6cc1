/**
 * Every failure a person can see, by code. The CLI maps codes to exit statuses
 * and prints the message on one line; `--debug` shows the stack.
 */
export type CanonErrorCode =
  | "BAD_CID"
  | "BAD_DID"
  | "BAD_URL"
  | "BAD_RECORD"
  | "BAD_ARGUMENT"
  | "BAD_CONFIG"
  | "NO_IDENTITY"
  | "NO_SPACE"
  | "UNKNOWN_SPACE"
  | "UNKNOWN_STANDARD"
  | "UNKNOWN_VERSION"
  | "UNKNOWN_CORRECTION"
  | "AMBIGUOUS_VERSION"
  | "FILE_UNREADABLE"
  | "STORAGE_DAMAGED"
  | "STORAGE_UNWRITABLE"
  | "PORT_UNAVAILABLE"
  | "IDENTITY_UNPROTECTED"
  | "NOT_A_MEMBER"
  | "NOT_VERIFIED"
  | "NOT_FRESH"
  | "PROJECT_DRIFT"
  | "STALE_WHEN_STAMPED"
  | "RELAY_UNREACHABLE"
  | "RELAY_REFUSED"
  | "SYNC_TIMEOUT";

/**
 * The one error class users see. `message` is written for a person: what
 * happened, to what, and what to do next.
 */
export class CanonError extends Error {
  /** Machine-readable reason, stable across releases. */
  readonly code: CanonErrorCode;

  /** Creates an error with a stable `code` and a message written for a person. */
  constructor(code: CanonErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CanonError";
    this.code = code;
  }
}

/** True when `error` is a {@link CanonError}, optionally with the given code. */
export function isCanonError(error: unknown, code?: CanonErrorCode): error is CanonError {
  return error instanceof CanonError && (code === undefined || error.code === code);
}

import { CanonError } from "@canon/core";

/**
 * A PostgreSQL connection URL as the relay shows it: the password replaced by
 * `***`. Logs, errors and the start-up line use this, never the URL itself.
 * A string that does not parse as a URL is shown as `(unparsable URL)`.
 */
export function redactedDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * Checks `CANON_RELAY_DATABASE_URL`: a `postgres://` or `postgresql://` URL
 * naming a host. Returns it unchanged (the client parses it again).
 * @throws CanonError `BAD_ARGUMENT` naming the variable and the redacted URL.
 */
export function parseDatabaseUrl(url: string, name = "CANON_RELAY_DATABASE_URL"): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CanonError(
      "BAD_ARGUMENT",
      `${name} must be a URL such as postgres://user:password@host:5432/database, not ${JSON.stringify(redactedDatabaseUrl(url))}`,
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")
    throw new CanonError(
      "BAD_ARGUMENT",
      `${name} must start with postgres:// or postgresql://, not ${parsed.protocol}//`,
    );
  if (parsed.hostname === "")
    throw new CanonError("BAD_ARGUMENT", `${name} names no host: ${redactedDatabaseUrl(url)}`);
  return url;
}

import { isCanonError } from "@canon/core";
import { describe, expect, it } from "vitest";
import { readRelayConfig } from "../src/config.js";

/** The message `readRelayConfig` refuses `environment` with. */
function refusal(environment: Record<string, string>): string {
  try {
    readRelayConfig(environment);
  } catch (error) {
    if (!isCanonError(error)) throw error;
    expect(error.code).toBe("BAD_ARGUMENT");
    return error.message;
  }
  throw new Error("accepted");
}

describe("the relay's environment", () => {
  // Sixth pass: a peer's URL carries the token this relay presents to it; a
  // bad entry in CANON_RELAY_PEERS was quoted whole in the start-up error
  // (standard error, a service log), token and password included.
  it("refuses a bad peer URL naming its host, never its token or password", () => {
    const message = refusal({
      CANON_RELAY_DATA: "/tmp/canon-relay-config-test",
      CANON_RELAY_PEERS:
        "ws://127.0.0.1:1,http://relay.example:8080/sync?token=peer-secret-0123456789,https://user:pass-secret-987@relay.example/",
    });
    expect(message).toMatch(
      /CANON_RELAY_PEERS has a bad URL: "?http:\/\/relay\.example:8080\/sync/,
    );
    expect(message).toMatch(/is not a WebSocket URL/);
    expect(message).not.toContain("peer-secret");
    expect(message).not.toContain("pass-secret");
  });

  it("reads the database's connections and waits, each a whole number of at least 1", () => {
    const url = "postgres://canon@127.0.0.1:5432/canon";
    expect(readRelayConfig({ CANON_RELAY_DATABASE_URL: url }).databasePool).toEqual({
      readConnections: undefined,
      writeConnections: undefined,
      waitMillis: undefined,
      statementMillis: undefined,
    });
    expect(
      readRelayConfig({
        CANON_RELAY_DATABASE_URL: url,
        CANON_RELAY_DATABASE_READ_CONNECTIONS: "3",
        CANON_RELAY_DATABASE_WRITE_CONNECTIONS: "2",
        CANON_RELAY_DATABASE_WAIT_MILLIS: "2500",
        CANON_RELAY_DATABASE_STATEMENT_MILLIS: "60000",
      }).databasePool,
    ).toEqual({
      readConnections: 3,
      writeConnections: 2,
      waitMillis: 2500,
      statementMillis: 60_000,
    });
    expect(
      refusal({ CANON_RELAY_DATABASE_URL: url, CANON_RELAY_DATABASE_WAIT_MILLIS: "0" }),
    ).toMatch(/CANON_RELAY_DATABASE_WAIT_MILLIS must be a whole number of at least 1, not "0"/);
    // Past 2^31 - 1 ms Node's timer fires at once (every wait a time-out) and PostgreSQL refuses
    // the statement_timeout on every connection; thousands of connections are no setting either.
    expect(
      refusal({ CANON_RELAY_DATABASE_URL: url, CANON_RELAY_DATABASE_WAIT_MILLIS: "99999999999" }),
    ).toMatch(/CANON_RELAY_DATABASE_WAIT_MILLIS must be at most 2147483647, not 99999999999/);
    expect(
      refusal({
        CANON_RELAY_DATABASE_URL: url,
        CANON_RELAY_DATABASE_STATEMENT_MILLIS: "2147483648",
      }),
    ).toMatch(/CANON_RELAY_DATABASE_STATEMENT_MILLIS must be at most 2147483647/);
    expect(
      refusal({ CANON_RELAY_DATABASE_URL: url, CANON_RELAY_DATABASE_READ_CONNECTIONS: "100000" }),
    ).toMatch(/CANON_RELAY_DATABASE_READ_CONNECTIONS must be at most 1000/);
  });
});

import { CanonError } from "@canon/core";
import { describe, expect, it } from "vitest";
import { parseRelayUrl } from "../../src/index.js";
import { healthUrlOf, relayFor, socketUrlOf } from "../../src/sync/relay-url.js";

describe("parseRelayUrl", () => {
  it.each([
    ["ws://127.0.0.1:8080", "ws://127.0.0.1:8080/"],
    ["wss://relay.example.org/sync", "wss://relay.example.org/sync"],
    ["WS://Relay.Example.org:80/", "ws://relay.example.org/"],
    ["wss://[::1]:9443", "wss://[::1]:9443/"],
  ])("accepts %s as %s", (input, normalised) => {
    expect(parseRelayUrl(input).toString()).toBe(normalised);
  });

  it.each([
    ["", /is not a URL; a relay URL looks like ws:\/\/host:port/],
    ["relay.example.org:8080", /is not a WebSocket URL/],
    ["ws://", /is not a URL/],
    ["ws://host:99999", /is not a URL/],
    ["http://relay.example.org", /must start with ws:\/\/ or wss:\/\//],
    ["https://relay.example.org", /is not a WebSocket URL/],
    ["file:///tmp/relay", /is not a WebSocket URL/],
  ])("refuses %j with BAD_URL saying why", (input, why) => {
    const refusal = catchError(() => parseRelayUrl(input));
    expect(refusal).toBeInstanceOf(CanonError);
    expect(refusal).toMatchObject({ code: "BAD_URL", message: expect.stringMatching(why) });
    expect((refusal as Error).message).toContain(`"${input}"`);
  });
});

describe("socketUrlOf", () => {
  it("puts the token in the query string, encoded, keeping the relay's own query", () => {
    expect(socketUrlOf({ url: "ws://h:1/x?room=a", token: "a b&c/=" })).toBe(
      "ws://h:1/x?room=a&token=a+b%26c%2F%3D",
    );
    expect(
      new URL(socketUrlOf({ url: "ws://h:1", token: "a b&c/=" })).searchParams.get("token"),
    ).toBe("a b&c/=");
  });

  it("leaves the URL without a token when there is none, or it is empty", () => {
    expect(socketUrlOf({ url: "ws://h:1" })).toBe("ws://h:1/");
    expect(socketUrlOf({ url: "ws://h:1", token: "" })).toBe("ws://h:1/");
  });

  it("checks the URL first", () => {
    expect(() => socketUrlOf({ url: "http://h:1", token: "t" })).toThrow(/not a WebSocket URL/);
  });
});

describe("healthUrlOf", () => {
  it.each([
    [{ url: "ws://h:8080" }, "http://h:8080/healthz"],
    [{ url: "wss://h" }, "https://h/healthz"],
    [{ url: "wss://h:443/sync?x=1" }, "https://h/healthz?x=1"],
    [{ url: "ws://h:8080", token: "s3cret" }, "http://h:8080/healthz?token=s3cret"],
  ])("maps %j to %s", (endpoint, expected) => {
    expect(healthUrlOf(endpoint)).toBe(expected);
  });
});

describe("relayFor", () => {
  const remembered = [
    { url: "ws://first:1", token: "first-token" },
    { url: "ws://second:2", token: null },
  ];

  it("uses the first remembered relay, with its token, when none is asked for", () => {
    expect(relayFor(remembered, {})).toEqual({ url: "ws://first:1", token: "first-token" });
  });

  it("uses a remembered relay's token for that relay unless another token is given", () => {
    expect(relayFor(remembered, { relay: "ws://first:1" })).toEqual({
      url: "ws://first:1",
      token: "first-token",
    });
    expect(relayFor(remembered, { relay: "ws://first:1", token: "new" })).toEqual({
      url: "ws://first:1",
      token: "new",
    });
    expect(relayFor(remembered, { token: "new" })).toEqual({ url: "ws://first:1", token: "new" });
  });

  it("gives a relay that is asked for but not remembered no token, and another relay's token never", () => {
    expect(relayFor(remembered, { relay: "ws://third:3" })).toEqual({
      url: "ws://third:3",
      token: undefined,
    });
    expect(relayFor(remembered, { relay: "ws://second:2" })).toEqual({
      url: "ws://second:2",
      token: undefined,
    });
  });

  it("refuses a malformed relay even when others are remembered", () => {
    expect(() => relayFor(remembered, { relay: "http://first:1" })).toThrow(
      expect.objectContaining({ code: "BAD_URL" }),
    );
  });

  it("says to pass --relay when no relay is known", () => {
    expect(() => relayFor([], {})).toThrow(
      expect.objectContaining({
        code: "BAD_ARGUMENT",
        message: expect.stringContaining("--relay ws://host:port"),
      }),
    );
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

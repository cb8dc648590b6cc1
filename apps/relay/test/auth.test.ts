import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { authorized } from "../src/auth.js";

/** The parts of a request the token check reads. */
function request(url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { url, headers } as unknown as IncomingMessage;
}

describe("the relay's token check", () => {
  it("lets every request through when the relay requires no token", () => {
    expect(authorized(request("/"), undefined)).toBe(true);
    expect(authorized(request("/"), "")).toBe(true);
  });

  it("accepts the token as ?token=, Authorization: Bearer, or X-Canon-Token", () => {
    expect(authorized(request("/?token=s3cret"), "s3cret")).toBe(true);
    expect(authorized(request("/", { authorization: "Bearer s3cret" }), "s3cret")).toBe(true);
    expect(authorized(request("/", { "x-canon-token": "s3cret" }), "s3cret")).toBe(true);
  });

  it("refuses a request with no token, a wrong one, or one of another length", () => {
    expect(authorized(request("/healthz"), "s3cret")).toBe(false);
    expect(authorized(request("/?token=guess!"), "s3cret")).toBe(false);
    expect(authorized(request("/?token=s3cret-and-more"), "s3cret")).toBe(false);
    expect(authorized(request("/", { authorization: "Bearer nope" }), "s3cret")).toBe(false);
  });
});

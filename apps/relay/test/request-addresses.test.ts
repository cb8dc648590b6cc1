import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { parseTrustedProxies, requestAddresses } from "../src/guard/client-address.js";

/**
 * One real request to a real server on 127.0.0.1 with `X-Forwarded-For:
 * forwardedFor`; what `inspect` returns for it, called while it is open.
 */
async function oneRequest<T>(
  forwardedFor: string,
  inspect: (incoming: IncomingMessage) => T,
): Promise<T> {
  let seen: { value: T } | undefined;
  const server = createServer((incoming, response) => {
    seen = { value: inspect(incoming) };
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => {
    request({ host: "127.0.0.1", port, headers: { "x-forwarded-for": forwardedFor }, agent: false })
      .on("response", (response) => response.resume().on("end", resolve))
      .on("error", reject)
      .end();
  });
  await new Promise((resolve) => server.close(resolve));
  if (seen === undefined) throw new Error("no request arrived");
  return seen.value;
}

describe("requestAddresses", () => {
  it("works a request's client address out once: the upgrade's connection count and the guard's budgets get the same", async () => {
    const addressOf = requestAddresses(parseTrustedProxies("127.0.0.1", "TRUSTED"));
    const seen = await oneRequest("203.0.113.7", (incoming) => {
      const first = addressOf(incoming);
      // Asked again for the same request (as the guard does after the upgrade), nothing
      // is parsed again: a header changed since would otherwise name another client.
      incoming.headers["x-forwarded-for"] = "198.51.100.1";
      return [first, addressOf(incoming)];
    });
    expect(seen).toEqual(["203.0.113.7", "203.0.113.7"]);
    // Another request is its own.
    expect(await oneRequest("198.51.100.2", addressOf)).toBe("198.51.100.2");
  });

  it("names an IPv4 client in one form, however its proxy wrote it", async () => {
    const addressOf = requestAddresses(parseTrustedProxies("127.0.0.1", "TRUSTED"));
    expect(await oneRequest("::ffff:203.0.113.7", addressOf)).toBe("203.0.113.7");
    expect(await oneRequest("203.0.113.7", addressOf)).toBe("203.0.113.7");
  });
});

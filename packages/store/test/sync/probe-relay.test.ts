import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CanonError } from "@canon/core";
import { afterEach, describe, expect, it } from "vitest";
import { probeRelay } from "../../src/index.js";
import { closedPort, startTestRelay } from "../relay-fixture.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step();
});

async function relay(token?: string) {
  const started = await startTestRelay(token === undefined ? {} : { token });
  cleanup.push(() => started.stop());
  return started.server;
}

/** An HTTP server on 127.0.0.1 that is not a relay; returns its ws:// URL. */
async function httpServer(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function refusal(probe: Promise<unknown>): Promise<CanonError> {
  const error = await probe.then(
    () => {
      throw new Error("expected the probe to fail");
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(CanonError);
  return error as CanonError;
}

describe("probeRelay", () => {
  it("reports a running relay's health", async () => {
    const server = await relay();
    expect(await probeRelay({ url: server.url }, 5_000)).toEqual({
      ok: true,
      peers: 0,
      documents: 0,
    });
  });

  it("asks for a token when the relay needs one, says a wrong one is wrong, and accepts the right one", async () => {
    const server = await relay("s3cret");
    const none = await refusal(probeRelay({ url: server.url }, 5_000));
    expect(none).toMatchObject({ code: "RELAY_REFUSED" });
    expect(none.message).toContain("no token given; pass --token");
    const wrong = await refusal(probeRelay({ url: server.url, token: "guess" }, 5_000));
    expect(wrong).toMatchObject({ code: "RELAY_REFUSED" });
    expect(wrong.message).toContain("wrong token");
    expect(await probeRelay({ url: server.url, token: "s3cret" }, 5_000)).toMatchObject({
      ok: true,
    });
  });

  it("says the relay cannot be reached, and that the local replica is unchanged, when nothing listens", async () => {
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const failure = await refusal(probeRelay({ url }, 5_000));
    expect(failure.code).toBe("RELAY_UNREACHABLE");
    expect(failure.message).toBe(
      `cannot reach relay ${url} (ECONNREFUSED); your local replica is unchanged and still readable`,
    );
  });

  it("tells an HTTP server that is not a Canon relay apart from one", async () => {
    const page = await httpServer((_, response) => {
      response.writeHead(200, { "content-type": "text/html" }).end("<html></html>");
    });
    const notFound = await httpServer((_, response) => {
      response.writeHead(404, { "content-type": "application/json" }).end('{"ok":true}');
    });
    for (const [url, status] of [
      [page, 200],
      [notFound, 404],
    ] as const) {
      const failure = await refusal(probeRelay({ url }, 5_000));
      expect(failure.code).toBe("RELAY_UNREACHABLE");
      expect(failure.message).toBe(`${url} answered, but not as a Canon relay (HTTP ${status})`);
    }
  });

  it("gives up after its timeout when the server accepts but never answers", async () => {
    const url = await httpServer(() => {
      // never answers
    });
    const failure = await refusal(probeRelay({ url }, 1_000));
    expect(failure.code).toBe("RELAY_UNREACHABLE");
    expect(failure.message).toContain("(no answer within 1 s)");
  });
});

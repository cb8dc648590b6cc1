import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { RelayServer } from "../src/relay-server.js";
import { acknowledged, relayTestKit, waitFor } from "./helpers/relay-test-kit.js";

type Doc = { blobs: Record<string, string> };

const kit = relayTestKit("canon-size-limit");

const LIMIT = 40_000;

const relay = () =>
  kit.relay("database", { limits: { maxDocumentBytes: LIMIT }, logLevel: "silent" });
const clientOf = (server: RelayServer) => kit.client(server);

async function quotaRefusals(server: RelayServer): Promise<number> {
  const text = await server.metrics();
  return Number(
    /^canon_relay_refused_connections_total\{reason="quota-exceeded"\} (\S+)$/m.exec(text)?.[1] ??
      0,
  );
}

/** Random text (does not compress) of about `bytes` bytes. */
function incompressible(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString("base64");
}

describe("the per-document size limit on a shared database", () => {
  it("counts what every relay stored: a write through relay 2 is refused once relay 1's writes filled the document", async () => {
    const one = await relay();
    const two = await relay();
    // Created through relay 2, which then knows the document's size (small).
    const creator = clientOf(two);
    const handle = creator.create<Doc>({ blobs: {} });
    await waitFor(() => acknowledged(creator, handle));

    // 24 KB through relay 1: within the limit.
    const first = clientOf(one);
    const viaOne = await first.find<Doc>(handle.url);
    viaOne.change((doc) => {
      doc.blobs.first = incompressible(24_000);
    });
    await waitFor(() => acknowledged(first, viaOne));
    expect(await quotaRefusals(one)).toBe(0);

    // Another 24 KB through relay 2, which accepted only a few bytes itself.
    await waitFor(() => handle.doc().blobs.first !== undefined);
    handle.change((doc) => {
      doc.blobs.second = incompressible(24_000);
    });
    await waitFor(async () => (await quotaRefusals(two)) === 1, 10_000);
    expect(acknowledged(creator, handle)).toBe(false);
  });
});

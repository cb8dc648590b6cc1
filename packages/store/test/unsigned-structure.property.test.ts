import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The hostile peer of the end-to-end tests: a bare automerge-repo peer writing through the relay.
import { type RawSpace, writeAsAttacker } from "../../../test/helpers/attacker.js";
import {
  type CanonHome,
  canonHome,
  createIdentity,
  createSpace,
  publish,
  syncSpace,
  withSpace,
} from "../src/index.js";
import { startTestRelay, type TestRelay } from "./relay-fixture.js";

/**
 * Whatever a peer writes to any field of any document of a space (tags,
 * names, the maps themselves, routing entries, records, content), a member
 * still syncs, reads and publishes, and a newcomer who joins through the
 * relay afterwards converges to the member's verified state: the same
 * accepted records, every release readable. Real replicas in temporary
 * homes, a real relay, and a hostile peer that bypasses Canon.
 */
let relay: TestRelay;
let root: string;

beforeAll(async () => {
  relay = await startTestRelay();
  root = await mkdtemp(join(tmpdir(), "canon-unsigned-"));
});

afterAll(async () => {
  await relay.stop();
  await rm(root, { recursive: true, force: true });
});

/** What a peer may leave in a field: nothing, or a value of any other type. */
const junkValue = fc.constantFrom("delete", "text", "number", "list", "empty-map", "bytes");
type Junk = typeof junkValue extends fc.Arbitrary<infer T> ? T : never;

/** Which document: the space's, or the n-th standard document. */
const target = fc.oneof(fc.constant("space" as const), fc.nat({ max: 1 }));

const write = fc.oneof(
  fc.record({
    kind: fc.constant("set-field" as const),
    target,
    field: fc.constantFrom("canon", "v", "name", "records", "contents", "standards"),
    value: junkValue,
  }),
  fc.record({ kind: fc.constant("delete-record" as const), target, index: fc.nat({ max: 5 }) }),
  fc.record({ kind: fc.constant("delete-content" as const), target, index: fc.nat({ max: 5 }) }),
  fc.record({
    kind: fc.constant("overwrite-content" as const),
    target,
    index: fc.nat({ max: 5 }),
    bytes: fc.uint8Array({ maxLength: 16 }),
  }),
  fc.record({
    kind: fc.constant("junk-route" as const),
    valid: fc.boolean(),
    name: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
  }),
  fc.record({ kind: fc.constant("delete-route" as const), index: fc.nat({ max: 3 }) }),
);
type Write = typeof write extends fc.Arbitrary<infer T> ? T : never;

function junk(value: Exclude<Junk, "delete">): unknown {
  switch (value) {
    case "text":
      return "junk";
    case "number":
      return 42;
    case "list":
      return ["junk"];
    case "empty-map":
      return {};
    case "bytes":
      return new Uint8Array([1, 2, 3]);
  }
}

/** Applies one write to the attacker's copy of the documents. */
function apply(raw: RawSpace, documents: readonly string[], op: Write): void {
  const handleOf = (which: "space" | number) => {
    if (which === "space") return raw.space;
    const id = documents[which];
    return id === undefined ? undefined : raw.standards.get(id);
  };
  const mapIn = (doc: Record<string, unknown>, field: string) => {
    const value = doc[field];
    return typeof value === "object" &&
      value !== null &&
      Object.getPrototypeOf(value) === Object.prototype
      ? (value as Record<string, unknown>)
      : undefined;
  };
  const keyAt = (map: Record<string, unknown> | undefined, index: number) => {
    const keys = Object.keys(map ?? {}).sort();
    return keys.length === 0 ? undefined : keys[index % keys.length];
  };
  if (op.kind === "junk-route" || op.kind === "delete-route") {
    raw.space.change((doc) => {
      const routes = mapIn(doc as never, "standards");
      if (routes === undefined) return;
      if (op.kind === "junk-route") {
        const id = op.valid ? parseAutomergeUrl(generateAutomergeUrl()).documentId : "not-an-id";
        routes[id] = op.name;
      } else {
        const key = keyAt(routes, op.index);
        if (key !== undefined) delete routes[key];
      }
    });
    return;
  }
  const handle = handleOf(op.target) as RawSpace["space"] | undefined;
  handle?.change((doc) => {
    const raw = doc as unknown as Record<string, unknown>;
    switch (op.kind) {
      case "set-field":
        if (op.value === "delete") delete raw[op.field];
        else raw[op.field] = junk(op.value);
        break;
      case "delete-record": {
        const records = mapIn(raw, "records");
        const key = keyAt(records, op.index);
        if (records && key !== undefined) delete records[key];
        break;
      }
      case "delete-content": {
        const contents = mapIn(raw, "contents");
        const key = keyAt(contents, op.index);
        if (contents && key !== undefined) delete contents[key];
        break;
      }
      case "overwrite-content": {
        const contents = mapIn(raw, "contents");
        const key = keyAt(contents, op.index);
        if (contents && key !== undefined) contents[key] = op.bytes;
        break;
      }
    }
  });
}

/** A member's verified state: accepted record CIDs, and every release's bytes as this home reads them. */
async function verifiedState(home: CanonHome) {
  return withSpace(home, {}, async ({ replica, folded, state }) => {
    const records = [state.genesis.cid, ...state.membershipChanges.map((change) => change.cid)];
    const contents: Record<string, string> = {};
    for (const standard of state.standards.values()) {
      for (const [cid, release] of standard.releases) {
        records.push(cid);
        const bytes = await replica.content.verified(folded, release.record);
        contents[cid] = bytes === undefined ? "<unreadable>" : new TextDecoder().decode(bytes);
      }
    }
    return { records: records.sort(), contents };
  });
}

let run = 0;

/** A space with two standards (two versions of one), its owner synced with the relay. */
async function ownedSpace() {
  const home = canonHome(join(root, `owner-${++run}`));
  const signer = await createIdentity(home);
  const { url } = await createSpace(home, signer, "attacked");
  const file = join(root, `content-${run}.md`);
  const put = async (standard: string, text: string) => {
    await writeFile(file, text);
    await publish(home, signer, { standard, file });
  };
  await put("style", "style v1\n");
  await put("style", "style v2\n");
  await put("tone", "tone v1\n");
  await syncSpace(home, { relay: relay.server.url, remember: true, timeoutMs: 20_000 });
  const documents = await withSpace(home, {}, async ({ folded }) => [...folded.standards.keys()]);
  return { home, signer, url, put, documents };
}

async function joinAsNewcomer(url: string): Promise<CanonHome> {
  const home = canonHome(join(root, `newcomer-${++run}`));
  await syncSpace(home, {
    space: url,
    relay: relay.server.url,
    remember: true,
    makeDefault: true,
    timeoutMs: 20_000,
  });
  return home;
}

describe("unsigned structure (a hostile peer writes random junk into a space's documents)", () => {
  it("a member still syncs, reads and publishes, and a newcomer converges to the member's verified state", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 6 }), async (writes) => {
        const owner = await ownedSpace();
        const spaceDocumentId = owner.url.slice("canon:".length).split("/")[0] as string;
        await writeAsAttacker(
          relay.server.url,
          spaceDocumentId,
          (raw) => {
            for (const op of writes) apply(raw, owner.documents, op);
          },
          { documents: owner.documents },
        );
        const before = await verifiedState(owner.home);
        await syncSpace(owner.home, { timeoutMs: 20_000 });
        // Nothing a peer wrote took an accepted record or a release's bytes away.
        expect(await verifiedState(owner.home)).toEqual(before);
        await owner.put("style", "style v3\n");
        await owner.put("tone", "tone v2\n");
        await syncSpace(owner.home, { timeoutMs: 20_000 });
        const member = await verifiedState(owner.home);
        expect(Object.values(member.contents)).toEqual(
          expect.arrayContaining(["style v1\n", "style v2\n", "style v3\n", "tone v2\n"]),
        );
        const newcomer = await joinAsNewcomer(owner.url);
        expect(await verifiedState(newcomer)).toEqual(member);
      }),
      { numRuns: 30, endOnFailure: true },
    );
  }, 300_000);
});

import * as A from "@automerge/automerge";
import {
  type DocHandle,
  generateAutomergeUrl,
  parseAutomergeUrl,
  Repo,
} from "@automerge/automerge-repo";
import { describe, expect, it } from "vitest";
import type { AccessGrant } from "../src/access/access-grant.js";
import { SpaceAccess, type SpaceAccessSources } from "../src/access/space-access.js";

/** Two space documents in a Repo with no storage or network, and the access check over them. */
function twoSpaces() {
  const repo = new Repo({ network: [] });
  const alpha = repo.create<{ standards: Record<string, string> }>({ standards: {} });
  const beta = repo.create<{ standards: Record<string, string> }>({ standards: {} });
  const sources = {
    storage: { loadRange: async () => [] },
    sizes: { isStored: async () => false },
    repo: () => repo,
  } as unknown as SpaceAccessSources;
  const access = new SpaceAccess(new Set([alpha.documentId, beta.documentId]), sources);
  const grant = (space: string, write: boolean): AccessGrant => ({
    kind: "spaces",
    spaces: new Set([space]),
    write,
  });
  return {
    repo,
    access,
    alpha,
    beta,
    alphaWriter: grant(alpha.documentId, true),
    alphaReader: grant(alpha.documentId, false),
    betaWriter: grant(beta.documentId, true),
  };
}

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId;

describe("which documents a space token opens", () => {
  it("a space document opens to its own tokens only; a reader may not write", async () => {
    const { access, alpha, beta, alphaWriter, alphaReader } = twoSpaces();
    expect(await access.refusal(alphaWriter, alpha.documentId, true)).toBeUndefined();
    expect(await access.refusal(alphaReader, alpha.documentId, false)).toBeUndefined();
    expect(await access.refusal(alphaReader, alpha.documentId, true)).toMatch(/read-only/);
    expect(await access.refusal(alphaWriter, beta.documentId, false)).toMatch(/not this token's/);
    expect(await access.refusal({ kind: "all" }, beta.documentId, true)).toBeUndefined();
  });

  it("a routed document belongs to the space routing to it; a route from a second space locks it for both", async () => {
    const { repo, access, alpha, beta, alphaReader, betaWriter } = twoSpaces();
    const standard = repo.create({ records: {} });
    alpha.change((doc) => {
      doc.standards[standard.documentId] = "style";
    });
    expect(await access.refusal(alphaReader, standard.documentId, false)).toBeUndefined();
    expect(await access.refusal(betaWriter, standard.documentId, true)).toMatch(/another space/);
    // Beta's writer learned the id and routes to it: nobody but the admin gets it now.
    beta.change((doc) => {
      doc.standards[standard.documentId] = "stolen";
    });
    expect(await access.refusal(alphaReader, standard.documentId, false)).toMatch(/more than one/);
    expect(await access.refusal(betaWriter, standard.documentId, true)).toMatch(/more than one/);
  });

  it("a writer may create a document no space routes to yet; it is its space's until routed elsewhere", async () => {
    const { access, beta, alphaWriter, alphaReader, betaWriter } = twoSpaces();
    const created = newId();
    expect(await access.refusal(alphaReader, created, false)).toMatch(/no space of this token/);
    expect(await access.refusal(alphaWriter, created, true)).toBeUndefined();
    expect(await access.refusal(alphaReader, created, false)).toBeUndefined();
    expect(await access.refusal(betaWriter, created, true)).toMatch(/another space/);
    beta.change((doc) => {
      doc.standards[created] = "stolen";
    });
    expect(await access.refusal(betaWriter, created, true)).toMatch(/more than one/);
    expect(await access.refusal(alphaWriter, created, true)).toMatch(/more than one/);
  });
});

describe("routes read by the access check", () => {
  it("a provenance feed segment routed from the space's feeds map belongs to that space", async () => {
    const { repo, access, alpha, alphaReader, betaWriter } = twoSpaces();
    const segment = repo.create({ records: {} });
    (alpha as unknown as DocHandle<{ feeds?: Record<string, string> }>).change((doc) => {
      doc.feeds = { [segment.documentId]: "did:key:z6Mk-agent" };
    });
    // Before, only `standards` counted: a reader of the space was refused its feed (4403).
    expect(await access.refusal(alphaReader, segment.documentId, false)).toBeUndefined();
    expect(await access.refusal(betaWriter, segment.documentId, true)).toMatch(/another space/);
  });

  it("reads a stored space document's routes once, until the relay stores a write to it", async () => {
    const spaces = Array.from({ length: 3 }, () =>
      A.from<{ standards: Record<string, string> }>({ standards: {} }),
    );
    const ids: string[] = spaces.map(() => newId());
    const stored = new Map(ids.map((id, i) => [id, A.save(spaces[i] as A.Doc<unknown>)]));
    let reads = 0;
    const sources = {
      storage: {
        loadRange: async ([documentId, kind]: string[]) => {
          reads += 1;
          const bytes = kind === "snapshot" ? stored.get(documentId as string) : undefined;
          return bytes === undefined ? [] : [{ key: [documentId, kind, "x"], data: bytes }];
        },
      },
      sizes: { isStored: async () => true },
      repo: () => undefined,
    } as unknown as SpaceAccessSources;
    const access = new SpaceAccess(new Set(ids), sources);
    const reader: AccessGrant = {
      kind: "spaces",
      spaces: new Set([ids[0] as string]),
      write: false,
    };
    // A peer naming a hundred unknown documents costs one read of each space, not a hundred.
    for (let i = 0; i < 100; i += 1)
      expect(await access.refusal(reader, newId(), false)).toMatch(/no space of this token/);
    const once = reads;
    expect(once).toBeLessThanOrEqual(ids.length * 2);
    // A route written (and stored) later counts once the relay says the space was written.
    const routed = newId();
    stored.set(
      ids[0] as string,
      A.save(
        A.change(spaces[0] as A.Doc<{ standards: Record<string, string> }>, (doc) => {
          doc.standards[routed] = "style";
        }),
      ),
    );
    access.invalidate(ids[0]);
    expect(await access.refusal(reader, routed, false)).toBeUndefined();
    expect(reads).toBeGreaterThan(once);
  });
});

import { type DocHandle, isValidDocumentId, type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

/** The documents of a space as an attacker sees them: plain Automerge documents anyone with the URL can write. */
export interface RawSpace {
  readonly space: DocHandle<{
    records: Record<string, Uint8Array>;
    standards: Record<string, string>;
  }>;
  /** Standard documents and feed segments, by document id. */
  readonly standards: Map<
    string,
    DocHandle<{ name: string; records: Record<string, unknown>; contents: Record<string, unknown> }>
  >;
}

/**
 * Connects a bare automerge-repo peer (no Canon code, no checks) to a relay,
 * lets `write` change the space's documents directly, and waits until the
 * relay holds the result. This is what anyone who knows the space URL can do.
 */
export async function writeAsAttacker(
  relayUrl: string,
  spaceDocumentId: string,
  write: (raw: RawSpace) => void | Promise<void>,
  /** Standard documents to open besides those the space routes to (a routing entry may be gone). */
  options: { readonly documents?: readonly string[] } = {},
): Promise<void> {
  const client = new WebSocketClientAdapter(relayUrl, 60_000);
  const repo = new Repo({
    network: [client],
    peerId: `attacker-${Date.now()}` as PeerId,
    sharePolicy: async () => true,
  });
  try {
    await repo.networkSubsystem.whenReady();
    const space = await repo.find<RawSpace["space"] extends DocHandle<infer T> ? T : never>(
      `automerge:${spaceDocumentId}` as never,
    );
    const standards: RawSpace["standards"] = new Map();
    // Standard documents and provenance feed segments alike.
    const keysOf = (map: unknown) =>
      typeof map === "object" && map !== null ? Object.keys(map) : [];
    const doc = space.doc() as { standards?: unknown; feeds?: unknown };
    const routed = [...keysOf(doc.standards), ...keysOf(doc.feeds)];
    for (const id of new Set([...routed, ...(options.documents ?? [])])) {
      if (!isValidDocumentId(id)) continue;
      // A routing entry may name a document that exists nowhere: skip it after a while.
      let timer: NodeJS.Timeout | undefined;
      const found = await Promise.race([
        repo.find(`automerge:${id}` as never).catch(() => undefined),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 3_000);
        }),
      ]);
      clearTimeout(timer);
      if (found) standards.set(id, found as never);
    }
    await write({ space, standards } as RawSpace);
    const relayStorage = client.remotePeerId
      ? repo.getStorageIdOfPeer(client.remotePeerId)
      : undefined;
    const handles = [space, ...standards.values()] as DocHandle<unknown>[];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const done = handles.every((handle) => {
        const theirs = relayStorage ? handle.getSyncInfo(relayStorage)?.lastHeads : undefined;
        const ours = handle.heads();
        return (
          theirs !== undefined &&
          theirs.length === ours.length &&
          theirs.every((head) => ours.includes(head))
        );
      });
      if (done) break;
      if (Date.now() > deadline) throw new Error("the relay did not take the attacker's writes");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    client.disconnect();
  }
}

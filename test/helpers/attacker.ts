import { type DocHandle, type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

/** The documents of a space as an attacker sees them: plain Automerge documents anyone with the URL can write. */
export interface RawSpace {
  readonly space: DocHandle<{
    records: Record<string, Uint8Array>;
    standards: Record<string, string>;
  }>;
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
    for (const id of Object.keys(space.doc().standards)) {
      standards.set(id, await repo.find(`automerge:${id}` as never));
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

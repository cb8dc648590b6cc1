import type { SyncState } from "@automerge/automerge";
import {
  type DocumentId,
  encodeHeads,
  type PeerId,
  type Repo,
  type UrlHeads,
} from "@automerge/automerge-repo";

/** The heads a peer had for documents at some moment: read by document id. */
export interface HeadsView {
  /** The heads, or undefined when the peer has not reported any for that document. */
  get(documentId: string): UrlHeads | undefined;
  /** Stops recording (the view keeps what it has). */
  stop(): void;
}

/**
 * The heads one peer reported for each document over one connection, heard
 * from the Repo's synchronizer as its sync messages arrive. Started before
 * the connection opens, so nothing it says is missed; never holds what the
 * peer said over an earlier connection. (automerge-repo's own
 * `handle.getSyncInfo(storageId)` outlives connections: in a process that
 * keeps its replica open, it still says what a relay held the last time it
 * was connected, and a sync that trusted it could end before receiving
 * anything; see docs/decisions/2026-11-29-sync-freshness.md.)
 */
export class ReportedHeads {
  readonly #repo: Repo;
  /** Latest heads by peer, then document. */
  readonly #latest = new Map<PeerId, Map<string, UrlHeads>>();
  /** Views waiting for a document's first report after they began, by peer. */
  readonly #views = new Set<{ peer: () => PeerId | undefined; first: Map<string, UrlHeads> }>();
  readonly #listener = (payload: {
    peerId: PeerId;
    documentId: DocumentId;
    syncState: SyncState;
  }) => {
    const theirs = payload.syncState.theirHeads;
    // Null: nothing heard from the peer about this document yet (on this connection).
    if (theirs === null || theirs === undefined) return;
    const heads = encodeHeads(theirs);
    let byDocument = this.#latest.get(payload.peerId);
    if (byDocument === undefined) {
      byDocument = new Map();
      this.#latest.set(payload.peerId, byDocument);
    }
    byDocument.set(payload.documentId, heads);
    for (const view of this.#views)
      if (view.peer() === payload.peerId && !view.first.has(payload.documentId))
        view.first.set(payload.documentId, heads);
  };

  /** Starts listening to `repo`'s sync messages. */
  constructor(repo: Repo) {
    this.#repo = repo;
    repo.synchronizer.on("sync-state", this.#listener);
  }

  /** The heads `peer` last reported for a document, or undefined when it has not (on this connection). */
  latest(peer: PeerId, documentId: string): UrlHeads | undefined {
    return this.#latest.get(peer)?.get(documentId);
  }

  /**
   * What `peer` holds of each document as of now: the heads it last
   * reported, else the first it reports from now on. `peer` is read when a
   * report arrives (a connection learns its peer's id in the handshake).
   */
  fromNow(peer: () => PeerId | undefined): HeadsView {
    const known = this.#latest.get(peer() as PeerId);
    const before = new Map(known ?? []);
    const view = { peer, first: new Map<string, UrlHeads>() };
    this.#views.add(view);
    return {
      get: (documentId) => before.get(documentId) ?? view.first.get(documentId),
      stop: () => {
        this.#views.delete(view);
      },
    };
  }

  /** Stops listening. */
  stop(): void {
    this.#repo.synchronizer.off("sync-state", this.#listener);
    this.#views.clear();
  }
}

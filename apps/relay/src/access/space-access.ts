import * as A from "@automerge/automerge";
import type { Repo, StorageAdapterInterface } from "@automerge/automerge-repo";
import type { DocumentSizes } from "../guard/document-sizes.js";
import { storedDocument } from "../guard/stored-document.js";
import type { AccessGrant } from "./access-grant.js";

/** What {@link SpaceAccess} reads: the relay's own copies of the documents. */
export interface SpaceAccessSources {
  readonly storage: StorageAdapterInterface;
  readonly sizes: DocumentSizes;
  readonly repo: () => Repo | undefined;
}

/**
 * Which documents a connection's grant opens. A space is its space document
 * plus the documents its routing map (`standards`) names in the relay's own
 * copy. The map is unsigned, so a writer could route to anything: a route
 * only counts for a document no other configured space claims. A document
 * routed by two configured spaces (or routed by one and created by another's
 * writer) is refused to every token but the admin's, and logged: its real
 * owner loses access until the bad route is removed, but nobody reads or
 * writes another space's document through a route.
 *
 * A writer may also name a document the relay does not hold yet (a new
 * standard document is pushed while, or before, its route arrives in the
 * space document); it is attributed to the writer's spaces until a route
 * claims it. That attribution is kept in memory only: after a restart, a
 * document nobody routes to is reachable by the admin token alone.
 */
export class SpaceAccess {
  readonly #spaces: ReadonlySet<string>;
  readonly #sources: SpaceAccessSources;
  /** Documents a space-token writer created before any route named them, with the writer's spaces. */
  readonly #createdBy = new Map<string, ReadonlySet<string>>();

  /** `spaces`: the space document ids the tokens file configures. */
  constructor(spaces: ReadonlySet<string>, sources: SpaceAccessSources) {
    this.#spaces = spaces;
    this.#sources = sources;
  }

  /**
   * Why `grant` may not touch `documentId` (with changes when `writes`), or
   * undefined when it may. A refusal reason is short and quotes no peer
   * bytes beyond the document id, which the wire schema already checked.
   */
  async refusal(
    grant: AccessGrant,
    documentId: string,
    writes: boolean,
  ): Promise<string | undefined> {
    if (grant.kind === "all") return undefined;
    if (writes && !grant.write) return `read-only token: changes to ${documentId} refused`;
    if (this.#spaces.has(documentId))
      return grant.spaces.has(documentId) ? undefined : `space ${documentId} is not this token's`;
    const claimants = await this.#routedBy(documentId);
    if (claimants.size === 0 && !this.#createdBy.has(documentId)) {
      if (!grant.write || (await this.#held(documentId)))
        return `document ${documentId} belongs to no space of this token`;
      // Checked again after the awaits: another connection may have claimed it meanwhile.
      if (!this.#createdBy.has(documentId)) this.#createdBy.set(documentId, grant.spaces);
    }
    const creators = this.#createdBy.get(documentId);
    const owners = new Set([...claimants, ...(creators ?? [])]);
    if (creators !== undefined && [...claimants].some((space) => !creators.has(space)))
      return `document ${documentId} is claimed by more than one space`;
    if (claimants.size > 1) return `document ${documentId} is claimed by more than one space`;
    for (const owner of owners)
      if (!grant.spaces.has(owner)) return `document ${documentId} belongs to another space`;
    return undefined;
  }

  /** The configured spaces whose routing map (every concurrent value of it) names `documentId`. */
  async #routedBy(documentId: string): Promise<Set<string>> {
    const claimants = new Set<string>();
    for (const space of this.#spaces) {
      const doc = await this.#document(space);
      // getConflicts answers undefined when the field has a single value.
      const conflicts = isMap(doc) ? A.getConflicts(doc, "standards") : undefined;
      const maps = conflicts ? Object.values(conflicts) : isMap(doc) ? [doc.standards] : [];
      if (maps.some((map) => isMap(map) && Object.hasOwn(map, documentId))) claimants.add(space);
    }
    return claimants;
  }

  async #document(documentId: string): Promise<unknown> {
    const handle = this.#sources.repo()?.handles[documentId as never];
    if (handle?.isReady()) return handle.doc();
    return storedDocument(this.#sources.storage, documentId);
  }

  /** True when the relay already has the document (in memory or on disk). */
  async #held(documentId: string): Promise<boolean> {
    if (this.#sources.repo()?.handles[documentId as never]?.isReady()) return true;
    return this.#sources.sizes.isStored(documentId);
  }
}

/** A plain map (Automerge's counters, texts and lists are objects too, but not maps). */
function isMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

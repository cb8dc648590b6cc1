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
 * plus the documents its routing maps (`standards`, and `feeds` for
 * provenance feed segments) name in the relay's own copy, every concurrent
 * value of each. The map is unsigned, so a writer could route to anything: a route
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
 *
 * Each space's routes are read once and kept: for a space document in
 * memory, until its heads change; for one read from storage, until
 * {@link SpaceAccess.invalidate} says it was written. So a peer naming
 * new document ids costs a lookup per configured space, not a load of
 * every space document.
 */
export class SpaceAccess {
  readonly #spaces: ReadonlySet<string>;
  readonly #sources: SpaceAccessSources;
  /** Documents a space-token writer created before any route named them, with the writer's spaces. */
  readonly #createdBy = new Map<string, ReadonlySet<string>>();
  /** Per configured space: the documents its routing maps name, and the heads they were read at (undefined: from storage). */
  readonly #routes = new Map<
    string,
    { readonly heads: string | undefined; readonly routed: ReadonlySet<string> }
  >();

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

  /**
   * Forgets what was read of `documentId`'s routes: the relay stored a
   * write to it (or another relay on the database did, or notices were
   * missed: `undefined` forgets every space's).
   */
  invalidate(documentId?: string): void {
    if (documentId === undefined) this.#routes.clear();
    else this.#routes.delete(documentId);
  }

  /** The configured spaces whose routing maps (every concurrent value of them) name `documentId`. */
  async #routedBy(documentId: string): Promise<Set<string>> {
    const claimants = new Set<string>();
    for (const space of this.#spaces)
      if ((await this.#routesOf(space)).has(documentId)) claimants.add(space);
    return claimants;
  }

  /** The documents a space's routing maps name, read from memory or storage once (see the class). */
  async #routesOf(space: string): Promise<ReadonlySet<string>> {
    const known = this.#routes.get(space);
    const handle = this.#sources.repo()?.handles[space as never];
    if (handle?.isReady()) {
      const heads = handle.heads().join(" ");
      if (known?.heads === heads) return known.routed;
      const routed = routesIn(handle.doc());
      this.#routes.set(space, { heads, routed });
      return routed;
    }
    if (known !== undefined) return known.routed;
    const routed = routesIn(await storedDocument(this.#sources.storage, space));
    this.#routes.set(space, { heads: undefined, routed });
    return routed;
  }

  /** True when the relay already has the document (in memory or on disk). */
  async #held(documentId: string): Promise<boolean> {
    if (this.#sources.repo()?.handles[documentId as never]?.isReady()) return true;
    return this.#sources.sizes.isStored(documentId);
  }
}

/** Routing maps: standard documents, and provenance feed segments. */
const ROUTING_FIELDS = ["standards", "feeds"] as const;

/** Every document id the routing maps of a space document name, in every concurrent value of each map. */
function routesIn(doc: unknown): ReadonlySet<string> {
  const routed = new Set<string>();
  if (!isMap(doc)) return routed;
  for (const field of ROUTING_FIELDS) {
    let conflicts: Record<string, unknown> | undefined;
    try {
      // Undefined when the field has a single value.
      conflicts = A.getConflicts(doc as A.Doc<Record<string, unknown>>, field);
    } catch {
      conflicts = undefined;
    }
    for (const map of conflicts ? Object.values(conflicts) : [doc[field]])
      if (isMap(map)) for (const id of Object.keys(map)) routed.add(id);
  }
  return routed;
}

/** A plain map (Automerge's counters, texts and lists are objects too, but not maps). */
function isMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

import type { StorageAdapterInterface } from "@automerge/automerge-repo";

/** What a relay asks of where it stores documents, besides automerge-repo's own interface. */
export interface RelayStorage {
  /** The automerge-repo storage adapter the Repo writes through. */
  readonly adapter: StorageAdapterInterface;
  /** Where the documents are, for the start-up line and logs (a database URL without its password). */
  readonly location: string;
  /** True when any snapshot or incremental chunk of the document is stored. */
  hasDocument(documentId: string): Promise<boolean>;
  /** The bytes of the document's snapshot and incremental chunks as stored now. */
  storedBytes(documentId: string): Promise<number>;
  /** How many documents have chunks stored. */
  countDocuments(): Promise<number>;
  /** Why the storage cannot serve now (for `/healthz`), or undefined when it can. */
  unhealthy(): Promise<string | undefined>;
  /** Releases connections; the adapter must not be used afterwards. */
  close(): Promise<void>;
}

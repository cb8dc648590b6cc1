import type { BundleFile } from "../../operations/bundle-folder.js";

/** What a target is made from: one resolved release of a standard. */
export interface TargetInput {
  readonly standard: string;
  /** The release's exact bytes (a single-file release; the manifest of a bundle). */
  readonly content: Uint8Array;
  /** The rendered context: the release followed by the corrections in force (the section alone for a bundle). */
  readonly rendered: Uint8Array;
  /** The corrections section alone, or null when none is in force. */
  readonly section: Uint8Array | null;
  /** The bundle's files, or null for a single-file release. */
  readonly files: readonly BundleFile[] | null;
}

/** A file a target writes, relative to the project. */
export interface TargetFile {
  readonly path: string;
  readonly bytes: Uint8Array;
  readonly executable: boolean;
}

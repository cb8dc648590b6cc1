import { CanonError } from "@canon/core";

/** A standard named as `canon show` and `canon stamp` take it: `name`, `name@<version>` or `name@<cid>`. */
export interface StandardReference {
  readonly standard: string;
  /** What follows `@` (a version, a release CID or a content CID); absent for the latest release. */
  readonly selector: string | undefined;
}

/**
 * Splits `name[@<version>|@<cid>]` at its first `@`. Only the shape is checked
 * here: whether the standard and the selector exist is for {@link pickRelease}
 * once the space is read.
 * @throws CanonError `BAD_ARGUMENT` when the name or the selector is empty.
 */
export function parseStandardReference(reference: string): StandardReference {
  const at = reference.indexOf("@");
  const standard = at === -1 ? reference : reference.slice(0, at);
  const selector = at === -1 ? undefined : reference.slice(at + 1);
  if (standard.length === 0 || selector === "") {
    throw new CanonError(
      "BAD_ARGUMENT",
      `"${reference}" is not <standard>, <standard>@<version> or <standard>@<cid>`,
    );
  }
  return { standard, selector };
}

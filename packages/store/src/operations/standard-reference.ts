import { CanonError } from "@canon/core";

/** A standard named as `canon show` and `canon stamp` take it: `name`, `name@<version>` or `name@<cid>`. */
export interface StandardReference {
  readonly standard: string;
  /** What follows `@` (a version, a release CID or a content CID); absent for the latest release. */
  readonly selector: string | undefined;
}

/**
 * Splits `name[@<version>|@<cid>]` at its first `@`. `@latest` is the same as
 * no selector and `@v3` the same as `@3`. Only the shape is checked here:
 * whether the standard and the selector exist is for {@link pickRelease}
 * once the space is read.
 * @throws CanonError `BAD_ARGUMENT` when the name or the selector is empty, or the selector is neither a version nor CID-shaped.
 */
export function parseStandardReference(reference: string): StandardReference {
  const at = reference.indexOf("@");
  const standard = at === -1 ? reference : reference.slice(0, at);
  const given = at === -1 ? undefined : reference.slice(at + 1);
  if (standard.length === 0 || given === "") {
    throw new CanonError(
      "BAD_ARGUMENT",
      `"${reference}" is not <standard>, <standard>@<version> or <standard>@<cid>`,
    );
  }
  if (given === undefined || given === "latest") return { standard, selector: undefined };
  const version = /^v(\d+)$/.exec(given);
  if (version) return { standard, selector: version[1] };
  if (!/^\d+$/.test(given) && !/^[a-zA-Z0-9]{8,200}$/.test(given)) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `"${reference.slice(0, 200)}": after @ comes a version (3 or v3), latest, or a release or content CID`,
    );
  }
  return { standard, selector: given };
}

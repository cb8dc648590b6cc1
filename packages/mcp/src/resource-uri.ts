/**
 * The server's resource addresses: `canon://status`, `canon://<standard>`
 * (its rendered context) and `canon://<standard>/<path>` (one file of a
 * bundle). Standard names are paths, so a file's address is split at the
 * longest served standard that prefixes it. A standard may be named
 * `status`: its address then wins, and the status is listed at
 * {@link STATUS_URI_RESERVED}, which no standard can take.
 */

/** The status resource's address, unless a standard named `status` is served. */
export const STATUS_URI = "canon://status";

/** The status resource's address that no standard's can be (a name starts with a letter or digit); always served. */
export const STATUS_URI_RESERVED = "canon://_status";

/** Where the status resource is listed, given the standards served. */
export function statusUri(served: ReadonlySet<string>): string {
  return served.has("status") ? STATUS_URI_RESERVED : STATUS_URI;
}

/** The resource template of a bundle's files. */
export const FILE_URI_TEMPLATE = "canon://{standard}/{path}";

/** A standard's rendered context, by address. */
export function standardUri(standard: string): string {
  return `canon://${standard.split("/").map(encodeURIComponent).join("/")}`;
}

/** One file of a bundle, by address. */
export function fileUri(standard: string, path: string): string {
  return `${standardUri(standard)}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/** What an address names. */
export type ResourceAddress =
  | { readonly kind: "status" }
  | { readonly kind: "standard"; readonly standard: string }
  | { readonly kind: "file"; readonly standard: string; readonly path: string };

/**
 * Reads an address against the standards served (hostile input: any string a
 * client sent). Undefined when it is not a `canon://` address, is malformed,
 * or names no served standard.
 */
export function parseResourceUri(
  uri: string,
  served: ReadonlySet<string>,
): ResourceAddress | undefined {
  if (uri.length > 4096 || !uri.startsWith("canon://")) return undefined;
  if (uri === STATUS_URI_RESERVED || (uri === STATUS_URI && !served.has("status")))
    return { kind: "status" };
  const rest = uri.slice("canon://".length);
  if (rest.includes("?") || rest.includes("#")) return undefined;
  let segments: string[];
  try {
    segments = rest.split("/").map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  if (segments.some((segment) => segment === "" || segment === "." || segment === ".."))
    return undefined;
  for (let length = segments.length; length > 0; length--) {
    const standard = segments.slice(0, length).join("/");
    if (!served.has(standard)) continue;
    if (length === segments.length) return { kind: "standard", standard };
    return { kind: "file", standard, path: segments.slice(length).join("/") };
  }
  return undefined;
}

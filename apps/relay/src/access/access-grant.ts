/**
 * What one connection may do, decided once at the HTTP upgrade from the
 * token it presented: everything (the relay's single `--token`, which is the
 * admin token, or no token at all on a relay that requires none), or the
 * documents of some spaces, read-only or read-write.
 */
export type AccessGrant =
  | { readonly kind: "all" }
  | {
      readonly kind: "spaces";
      /** The space document ids this token opens. */
      readonly spaces: ReadonlySet<string>;
      /** False for a read-only token: its sync messages may carry no changes. */
      readonly write: boolean;
    };

/** The grant of the admin token, and of every connection to a relay that requires no token. */
export const ALL_ACCESS: AccessGrant = { kind: "all" };

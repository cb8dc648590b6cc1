import { createHash, timingSafeEqual } from "node:crypto";
import { type AccessGrant, ALL_ACCESS } from "./access-grant.js";

/** One token of a tokens file, kept as its SHA-256 so comparisons take the same time for every token. */
interface SpaceToken {
  readonly digest: Buffer;
  readonly grant: AccessGrant;
}

/**
 * The tokens a relay accepts and what each opens: the admin token (the
 * relay's single `--token`, every space, read and write) and the per-space
 * tokens of a tokens file. With neither, the relay requires no token and
 * every connection may do everything (as before tokens per space).
 */
export class RelayTokens {
  readonly #admin: Buffer | undefined;
  readonly #tokens: readonly SpaceToken[];
  /** The space document ids the tokens file names. */
  readonly spaces: ReadonlySet<string>;

  /** `byToken` maps each per-space token to its grant (see `tokens-file.ts`, which builds it). */
  constructor(admin: string | undefined, byToken: ReadonlyMap<string, AccessGrant> = new Map()) {
    this.#admin = admin ? digest(admin) : undefined;
    this.#tokens = [...byToken].map(([token, grant]) => ({ digest: digest(token), grant }));
    const spaces = new Set<string>();
    for (const { grant } of this.#tokens)
      if (grant.kind === "spaces") for (const space of grant.spaces) spaces.add(space);
    this.spaces = spaces;
  }

  /** True when a connection must present a token. */
  get required(): boolean {
    return this.#admin !== undefined || this.#tokens.length > 0;
  }

  /**
   * What a presented token opens, or undefined when it opens nothing (no
   * token, or a wrong one, on a relay that requires one). Every known token
   * is compared, in constant time on digests, whichever matches, so timing
   * reveals neither a prefix nor which token matched.
   */
  grantOf(presented: string | undefined): AccessGrant | undefined {
    if (!this.required) return ALL_ACCESS;
    if (presented === undefined) return undefined;
    const given = digest(presented);
    let found: AccessGrant | undefined;
    if (this.#admin && timingSafeEqual(given, this.#admin)) found = ALL_ACCESS;
    for (const token of this.#tokens) if (timingSafeEqual(given, token.digest)) found = token.grant;
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

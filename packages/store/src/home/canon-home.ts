import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** Where each kind of state lives under `$CANON_HOME`. */
export interface CanonHome {
  readonly root: string;
  readonly config: string;
  readonly identities: string;
  readonly replica: string;
  readonly blobs: string;
  readonly indexes: string;
}

/**
 * The layout of a Canon home directory: `$CANON_HOME` if set, else `~/.canon`
 * (or the `root` given). Nothing is created until something is written.
 */
export function canonHome(root = process.env.CANON_HOME || join(homedir(), ".canon")): CanonHome {
  const absolute = resolve(root);
  return {
    root: absolute,
    config: join(absolute, "config.json"),
    identities: join(absolute, "identities"),
    replica: join(absolute, "replica"),
    blobs: join(absolute, "blobs"),
    indexes: join(absolute, "index"),
  };
}

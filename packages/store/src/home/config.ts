import { CanonError, CidString } from "@canon/core";
import { z } from "zod";
import { writeFileAtomic } from "./atomic-write.js";
import type { CanonHome } from "./canon-home.js";
import { withFileLock } from "./file-lock.js";
import { readJsonFile } from "./read-json-file.js";

/** A relay this home syncs a space through, and the token it requires (a secret: config.json is 0600). */
export const RelayEntry = z
  .object({ url: z.string(), token: z.string().nullable().default(null) })
  .strict();
/** A relay this home syncs a space through. */
export type RelayEntry = z.infer<typeof RelayEntry>;

/** What this home knows about one space. */
export const SpaceEntry = z
  .object({
    name: z.string(),
    genesis: CidString,
    relays: z.array(RelayEntry).default([]),
    lastSyncAt: z.string().nullable().default(null),
  })
  .strict();
/** What this home knows about one space. */
export type SpaceEntry = z.infer<typeof SpaceEntry>;

/** `$CANON_HOME/config.json`: the spaces this home follows and the default one. */
export const Config = z
  .object({
    v: z.literal(1),
    defaultSpace: z.string().nullable().default(null),
    spaces: z.record(z.string(), SpaceEntry).default({}),
  })
  .strict();
/** `$CANON_HOME/config.json`. */
export type Config = z.infer<typeof Config>;

/**
 * Reads the home's config; a home without one has an empty config.
 * @throws CanonError `BAD_CONFIG` naming the file when it is not valid.
 */
export async function readConfig(home: CanonHome): Promise<Config> {
  const json = await readJsonFile(home.config, "fix or remove it");
  if (json === undefined) return { v: 1, defaultSpace: null, spaces: {} };
  const parsed = Config.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CanonError(
      "BAD_CONFIG",
      `${home.config} is not a valid Canon config: ${issue?.message} at ${issue?.path.join(".")}`,
    );
  }
  return parsed.data;
}

/** Replaces the home's config atomically; only {@link updateConfig} calls it, under the lock. */
async function writeConfig(home: CanonHome, config: Config): Promise<void> {
  // 0600: the config holds relay tokens.
  await writeFileAtomic(home.config, `${JSON.stringify(config, null, 2)}\n`, 0o600);
}

/**
 * Reads, changes and writes the config in one step, holding the home's config
 * lock throughout, so that concurrent commands on one home (a \`sync\`, a
 * \`watch\` and a \`space create\`) each see the others' changes rather than
 * overwrite them. \`change\` runs under the lock: keep it quick, with no I/O.
 * @throws CanonError \`BAD_CONFIG\` when the config is not valid,
 * \`STORAGE_UNWRITABLE\` when it cannot be written or its lock cannot be taken
 * within a few seconds (see {@link withFileLock}).
 */
export async function updateConfig(
  home: CanonHome,
  change: (config: Config) => void,
): Promise<Config> {
  return withFileLock(home.config, async () => {
    const config = await readConfig(home);
    change(config);
    await writeConfig(home, config);
    return config;
  });
}

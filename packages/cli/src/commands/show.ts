import { canonHome, parseStandardReference, resolve } from "@canon/store";
import { contentForJson, type GlobalOptions, print } from "../output.js";
import { isBundleCid } from "../plain-show.js";

/**
 * `canon show <standard>[@<version>|@<cid>] [--rendered] [--file <path>]`:
 * print the exact bytes of one version, its rendered context, or (a bundle)
 * its files or one of them.
 */
export async function run(
  options: GlobalOptions & { rendered?: boolean; requireFresh?: boolean; file?: string },
  reference: string,
): Promise<void> {
  const { standard, selector } = parseStandardReference(reference);
  if (options.rendered) {
    const { showRendered } = await import("./show-rendered.js");
    return showRendered(options, standard, selector);
  }
  if (options.file !== undefined) {
    const { showBundle } = await import("./show-bundle.js");
    return showBundle(options, standard, selector);
  }
  const resolved = await resolve(canonHome(), { standard, selector, space: options.space });
  if (isBundleCid(resolved.cid)) {
    const { showBundle } = await import("./show-bundle.js");
    return showBundle(options, standard, resolved.release);
  }
  if (options.json) {
    const { content, ...rest } = resolved;
    print(options, { ...rest, ...contentForJson(content) }, () => "");
    return reportFreshness(resolved.freshness, options);
  }
  if (resolved.forkedWith.length > 0) {
    process.stderr.write(
      `canon: warning: ${standard} is forked; showing ${resolved.release} (v${resolved.version}); other heads: ${resolved.forkedWith.join(", ")}. Publish a new version to merge them.\n`,
    );
  }
  process.stdout.write(resolved.content);
  await reportFreshness(resolved.freshness, options);
}

/**
 * A view a checkpoint proves incomplete or expired is said on stderr (stdout
 * stays the exact bytes); with `--require-fresh`, anything but fresh exits 8.
 * Loaded only then, to keep the agent's start-up read small.
 */
export async function reportFreshness(
  freshness: { readonly status: string },
  options: { readonly requireFresh?: boolean; readonly json?: boolean },
): Promise<void> {
  if (freshness.status === "fresh" || (freshness.status === "unproven" && !options.requireFresh))
    return;
  const { freshnessNote, requireFresh } = await import("../freshness.js");
  const full = freshness as Parameters<typeof freshnessNote>[0];
  if (!options.json && freshness.status !== "unproven")
    process.stderr.write(`canon: warning: ${freshnessNote(full)}\n`);
  requireFresh(full, options.requireFresh);
}

import { canonHome, resolveRendered } from "@canon/store";
import { contentForJson, escapeControls, type GlobalOptions, print } from "../output.js";
import { isBundleCid } from "../plain-show.js";

/**
 * `canon show <standard> --rendered`: the release followed by the corrections
 * in force. A chunk of its own, so the plain `show` (an agent's start-up
 * read) never loads what rendering needs.
 */
export async function showRendered(
  options: GlobalOptions & { requireFresh?: boolean },
  standard: string,
  selector: string | undefined,
): Promise<void> {
  const rendered = await resolveRendered(canonHome(), { standard, selector, space: options.space });
  if (options.json) {
    const { content, ...rest } = rendered;
    print(options, { ...rest, ...contentForJson(content) }, () => "");
    const { reportFreshness } = await import("./show.js");
    return reportFreshness(rendered.freshness, options);
  }
  if (rendered.forkedWith.length > 0) {
    process.stderr.write(
      `canon: warning: ${standard} is forked; showing ${rendered.release} (v${rendered.version}); other heads: ${rendered.forkedWith.join(", ")}. Publish a new version to merge them.\n`,
    );
  }
  if (isBundleCid(rendered.cid)) {
    process.stderr.write(
      `canon: ${escapeControls(standard)}@${rendered.version} is a bundle: ${rendered.corrections.length > 0 ? "these are its corrections in force alone" : "no correction is in force"}; \`canon show ${standard}@${rendered.version}\` lists its files\n`,
    );
  } else if (!rendered.spliced && rendered.corrections.length > 0) {
    process.stderr.write(
      `canon: ${escapeControls(standard)}@${rendered.version} is not text: these are its corrections in force alone; \`canon show ${standard}@${rendered.version}\` prints its exact bytes\n`,
    );
  }
  process.stdout.write(rendered.content);
  const { reportFreshness } = await import("./show.js");
  await reportFreshness(rendered.freshness, options);
}

import { canonHome, parseStandardReference, resolve } from "@canon/store";
import { contentForJson, type GlobalOptions, print } from "../output.js";

/** `canon show <standard>[@<version>|@<cid>] [--rendered]`: print the exact bytes of one version, or its rendered context. */
export async function run(
  options: GlobalOptions & { rendered?: boolean },
  reference: string,
): Promise<void> {
  const { standard, selector } = parseStandardReference(reference);
  if (options.rendered) {
    const { showRendered } = await import("./show-rendered.js");
    return showRendered(options, standard, selector);
  }
  const resolved = await resolve(canonHome(), { standard, selector, space: options.space });
  if (options.json) {
    const { content, ...rest } = resolved;
    print(options, { ...rest, ...contentForJson(content) }, () => "");
    return;
  }
  if (resolved.forkedWith.length > 0) {
    process.stderr.write(
      `canon: warning: ${standard} is forked; showing ${resolved.release} (v${resolved.version}); other heads: ${resolved.forkedWith.join(", ")}. Publish a new version to merge them.\n`,
    );
  }
  process.stdout.write(resolved.content);
}

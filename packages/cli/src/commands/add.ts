import { addStandard } from "@canon/store";
import { home } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";
import { projectDir } from "../project-dir.js";

/** `canon add <standard> [--as <type>[:<path>]]... [--globs ...] [--apply-to ...]`: add a standard to canon.json. */
export async function run(
  options: GlobalOptions & {
    target?: string[];
    project?: string;
    description?: string;
    globs?: string;
    alwaysApply?: boolean;
    applyTo?: string;
    pin?: string;
  },
  standard: string,
): Promise<void> {
  const pin =
    options.pin === undefined
      ? undefined
      : /^\d+$/.test(options.pin)
        ? Number(options.pin)
        : options.pin;
  const added = await addStandard(home(), {
    dir: await projectDir(options, true),
    standard,
    targets: options.target ?? [],
    settings: {
      description: options.description,
      globs: options.globs,
      alwaysApply: options.alwaysApply,
      applyTo: options.applyTo,
    },
    pin,
    space: options.space,
    warn: (message) => process.stderr.write(`canon: warning: ${escapeControls(message)}\n`),
  });
  print(options, added, () =>
    [
      `${added.replaced ? "Updated" : "Added"} ${standard} in ${added.project}/canon.json`,
      ...added.targets.map(
        (target) =>
          `  target  ${target.type}${"path" in target && target.path ? ` ${target.path}` : ""}`,
      ),
      "Run `canon pull` to write it.",
    ].join("\n"),
  );
}

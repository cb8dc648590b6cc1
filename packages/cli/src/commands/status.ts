import { CanonError } from "@canon/core";
import { projectStatus } from "@canon/store";
import { home } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";
import { projectDir } from "../project-dir.js";

/** `canon status [--check] [--json]`: where each standard of the project stands. */
export async function run(
  options: GlobalOptions & { project?: string; check?: boolean },
): Promise<void> {
  const status = await projectStatus(home(), {
    dir: await projectDir(options),
    space: options.space,
  });
  print(
    options,
    status,
    () =>
      status.standards
        .flatMap((entry) => [
          `${entry.state.padEnd(9)} ${escapeControls(entry.standard)}  ${escapeControls(entry.detail)}`,
          ...entry.versions.map(
            (v) => `          v${v.version}  ${escapeControls(v.message.split("\n")[0] ?? "")}`,
          ),
          ...entry.corrections.map(
            (c) =>
              `          ${c.change === "new" ? "+" : "-"} correction ${c.id.slice(0, 16)}…  ${escapeControls((c.text.split("\n")[0] ?? "").slice(0, 100))}`,
          ),
        ])
        .join("\n") || "no standards in canon.json",
  );
  if (options.check && !status.current) {
    const off = status.standards.filter((entry) => entry.state !== "current");
    throw new CanonError(
      "PROJECT_DRIFT",
      `${off.length} standard(s) not current: ${off.map((entry) => `${entry.standard} (${entry.state})`).join(", ")}`,
    );
  }
}

import { CanonError } from "@canon/core";
import { TARGET_TYPES, Target } from "./project-manifest.js";

/** Settings given beside `--as`, applied to the targets of kinds that have them. */
export interface TargetSettings {
  readonly description?: string | undefined;
  readonly globs?: string | undefined;
  readonly alwaysApply?: boolean | undefined;
  readonly applyTo?: string | undefined;
}

/**
 * Targets from `--as <type>[:<path>]` flags and the settings flags, validated
 * as canon.json validates them.
 * @throws CanonError `BAD_ARGUMENT` naming the flag: an unknown type (listing the types), a bad path, a setting no target takes.
 */
export function targetsFromFlags(flags: readonly string[], settings: TargetSettings): Target[] {
  // No flag: the caller picks the default target and applies the settings to it.
  if (flags.length === 0) return [];
  const targets = flags.map((flag) => {
    const colon = flag.indexOf(":");
    const type = colon < 0 ? flag : flag.slice(0, colon);
    const path = colon < 0 ? undefined : flag.slice(colon + 1);
    if (!(TARGET_TYPES as readonly string[]).includes(type))
      throw new CanonError(
        "BAD_ARGUMENT",
        `--as ${JSON.stringify(flag.slice(0, 100))}: unknown target type "${type.slice(0, 60)}"; the types are ${TARGET_TYPES.join(", ")}`,
      );
    const candidate: Record<string, unknown> = { type, ...(path !== undefined ? { path } : {}) };
    if (type === "cursor-rule") {
      candidate.description = settings.description;
      candidate.globs = settings.globs;
      candidate.alwaysApply = settings.alwaysApply;
    }
    if (type === "copilot-instructions") {
      candidate.applyTo = settings.applyTo;
      candidate.description = settings.description;
    }
    const defined = Object.fromEntries(
      Object.entries(candidate).filter(([, v]) => v !== undefined),
    );
    const parsed = Target.safeParse(defined);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CanonError(
        "BAD_ARGUMENT",
        `--as ${JSON.stringify(flag.slice(0, 100))}: ${issue?.path.map(String).join(".") || "target"} ${issue?.message ?? "is invalid"}${type === "file" && path === undefined ? " (file needs a path: --as file:<path>)" : ""}`,
      );
    }
    return parsed.data;
  });
  const takers = {
    globs: ["cursor-rule"],
    alwaysApply: ["cursor-rule"],
    applyTo: ["copilot-instructions"],
    description: ["cursor-rule", "copilot-instructions"],
  } as const;
  for (const [setting, kinds] of Object.entries(takers)) {
    if (settings[setting as keyof TargetSettings] === undefined) continue;
    if (!targets.some((target) => (kinds as readonly string[]).includes(target.type)))
      throw new CanonError(
        "BAD_ARGUMENT",
        `--${setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to ${kinds.join(" or ")} targets; add --as ${kinds[0]}`,
      );
  }
  return targets;
}

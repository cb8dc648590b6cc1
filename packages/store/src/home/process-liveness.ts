import { readFileSync } from "node:fs";

/** What a process is doing, as far as this machine says. */
export type ProcessLiveness = "gone" | "stopped" | "running";

/** The fields of `/proc/<pid>/stat` after the command name, or undefined where there is none (not Linux). */
function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "<pid> (<command, which may hold spaces and parentheses>) <state> <ppid> ..."
  return stat
    .slice(stat.lastIndexOf(")") + 2)
    .trim()
    .split(" ");
}

/**
 * When the process started, in clock ticks since boot (field 22 of
 * `/proc/<pid>/stat`), or undefined where the machine does not say (not
 * Linux). With the pid, it names one process even after the pid is reused.
 */
export function processStartTime(pid: number): string | undefined {
  // Field 22 of the whole line is the 20th after the command (fields 1 and 2).
  return statFields(pid)?.[19];
}

/**
 * Looks at a process: `gone` when no such process exists (or only its
 * zombie), or when `startedAt` is given and the process now holding the pid
 * started at another time (the pid was reused); `stopped` when it is stopped
 * or traced (a SIGSTOP, a debugger: it does nothing until someone resumes
 * it); else `running`. The state comes from `/proc/<pid>/stat` where there is
 * one (Linux); elsewhere a live process counts as running.
 */
export function processLiveness(pid: number, startedAt?: string): ProcessLiveness {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH, or EPERM: a process of another user took the pid over, so ours is gone.
    return "gone";
  }
  const fields = statFields(pid);
  if (fields === undefined) return "running";
  const state = fields[0];
  if (state === "Z" || state === "X" || state === "x") return "gone";
  if (startedAt !== undefined && fields[19] !== startedAt) return "gone";
  if (state === "T" || state === "t") return "stopped";
  return "running";
}

import type { Command } from "commander";

/** Examples shown under each command's `--help`, by command path. */
const EXAMPLES: Record<string, readonly string[]> = {
  canon: [
    'canon init && canon space create "the publication"',
    'canon publish editorial-style style.md -m "first version"',
    "canon sync --relay ws://127.0.0.1:3030 --token s3cret",
    "canon show editorial-style --rendered",
  ],
  init: ["canon init", 'canon init --json   # {"did": ...}'],
  id: ["canon id", "canon id --as writer-agent --json"],
  "id new": ["canon id new --name writer-agent"],
  "id ls": ["canon id ls"],
  space: ['canon space create "the publication"', "canon space ls"],
  "space ls": ["canon space ls --json"],
  member: ["canon member add did:key:z6Mk... --role reader", "canon member ls"],
  "member remove": ["canon member remove did:key:z6Mk..."],
  "member ls": ["canon member ls --json"],
  checkpoint: ["canon checkpoint"],
  unretire: ["canon unretire old-style"],
  "space create": ['canon space create "the publication"'],
  "space join": [
    "canon space join canon:<id>/<cid> --relay ws://relay.example:3030 --token s3cret",
  ],
  "space settings": ["canon space settings --checkpoint-expiry 12h"],
  "member add": ["canon member add did:key:z6Mk... --role contributor"],
  publish: [
    'canon publish editorial-style style.md -m "shorter sentences"',
    "canon publish editorial-style style.md --incorporates bafyrei...",
    "canon publish skills/codeql .claude/skills/codeql   # a folder: one bundle",
    "canon publish editorial-style style.md --force      # even if unchanged",
  ],
  export: [
    "canon export skills/codeql .claude/skills/codeql",
    "canon export skills/codeql@3 /tmp/codeql-v3 --force",
  ],
  show: [
    "canon show editorial-style",
    "canon show editorial-style@3",
    "canon show editorial-style@bafkrei...   # a content or release CID",
    "canon show editorial-style --rendered   # with the corrections in force",
    "canon show skills/codeql                # a bundle: lists its files",
    "canon show skills/codeql --file SKILL.md",
  ],
  correct: [
    'canon correct editorial-style "No inline code in non-technical articles." --evidence article.md',
    'canon correct --withdraw bafyrei... --reason "superseded"',
  ],
  corrections: [
    "canon corrections editorial-style",
    "canon corrections editorial-style --all --json",
  ],
  stamp: [
    "canon stamp article.md --as writer-agent",
    "canon stamp article.md --standard editorial-style@3 --standard glossary",
    "canon stamp article.md --format in-toto   # a DSSE envelope any in-toto verifier reads",
  ],
  "export-stamp": ["canon export-stamp bafyrei... --as writer-agent -o article.intoto.json"],
  verify: [
    "canon verify article.md   # the sidecar, or the feeds when there is none",
    "canon verify --stamp bafyrei...   # one stamp from the feeds, by CID",
    "canon verify article.md --require-fresh --json",
  ],
  agents: ["canon agents", "canon agents --json"],
  sync: ["canon sync", "canon sync --relay ws://127.0.0.1:4040 --remember"],
  watch: ["canon watch", "canon watch --json   # one object per line"],
  mcp: [
    "canon mcp                          # in a project: its canon.json and canon.lock",
    'canon mcp --space "the publication"  # a whole space',
    "canon mcp --print-config claude-code > .mcp.json",
  ],
  relay: [
    "canon relay --port 3030 --data /var/lib/canon-relay --token s3cret",
    "CANON_RELAY_DATABASE_URL=postgres://relay:…@db:5432/canon canon relay --port 3030 --token s3cret",
  ],
  serve: ["canon serve --port 4040"],
  owner: [
    "canon owner --status   # the owner process of this home, if one runs",
    "canon owner --stop",
    "CANON_NO_OWNER=1 canon publish editorial-style style.md   # without one",
  ],
  retire: ['canon retire old-style -m "replaced by editorial-style"'],
  log: ["canon log editorial-style"],
  ls: ["canon ls", "canon ls --all --require-fresh"],
  doctor: ["canon doctor", "canon doctor --json"],
  add: [
    "canon add skills/webapp-testing           # .claude/skills/webapp-testing/",
    'canon add rules/a11y --globs "src/**/*.tsx" --always-apply',
    "canon add style --as agents-md --as file:docs/style.md",
    'canon add instructions/astro --apply-to "**/*.astro"',
  ],
  pull: ["canon pull", "canon pull --frozen   # in CI: exactly canon.lock", "canon pull --offline"],
  status: [
    "canon status",
    "canon status --check   # in CI: exit 9 unless current",
    "canon status --json",
  ],
  import: ["canon import .", "canon import ../other-repo --prefix team"],
  run: [
    "canon run -- ./agent.sh --task review",
    'canon run --frozen --stamp "out/**/*.md" -- ./agent.sh',
  ],
};

/** The exit statuses every command shares (the README's table). */
const EXIT_STATUSES = [
  "Exit statuses:",
  "  0  success",
  "  1  unexpected error (a bug: report it with --debug)",
  "  2  bad input: a malformed CID, did, URL, name, command or option",
  "  3  not found: no identity or space, an unknown standard, version or correction, a missing file",
  "  4  local storage, config or resources: a damaged file, an unwritable home, an exposed key, a port in use",
  "  5  network: the relay unreachable, refusing, timed out, or lost mid-sync",
  "  6  not allowed: the identity lacks the role",
  "  7  verify: the output does not verify against its stamp",
  "  8  --require-fresh: the view is not proven fresh by a checkpoint",
  "  9  a project is not current (status --check), or canon.lock is stale (pull --frozen)",
  " 10  verify --strict: the output verifies, but its context was stale when stamped",
].join("\n");

/** Adds examples to every command that has some, and the exit statuses to the top-level help. */
export function addHelpText(program: Command): void {
  const visit = (command: Command, path: string) => {
    const examples = EXAMPLES[path];
    if (examples)
      command.addHelpText("after", `\nExamples:\n${examples.map((e) => `  $ ${e}`).join("\n")}`);
    for (const child of command.commands)
      visit(child, path === "canon" ? child.name() : `${path} ${child.name()}`);
  };
  visit(program, "canon");
  program.addHelpText("after", `\n${EXIT_STATUSES}`);
}

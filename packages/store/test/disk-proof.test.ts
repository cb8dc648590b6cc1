import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeChecksummedJson } from "../src/caches/checksummed-json.js";
import { provenFingerprint, recordDiskProof } from "../src/caches/disk-proof.js";
import { readVerifiedSnapshot } from "../src/caches/verified-snapshot.js";
import { canonHome, createSpace, ensureIdentity, openReplica, publish } from "../src/index.js";
import { chooseSpace } from "../src/operations/space-session.js";
import { chunkFingerprint, pathOfKey } from "../src/storage/chunk-layout.js";
import {
  GenerationWriter,
  generationPath,
  readGeneration,
  writersPath,
} from "../src/storage/replica-generation.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function homeWithStandard() {
  const root = await mkdtemp(join(tmpdir(), "canon-proof-"));
  cleanup.push(root);
  const home = canonHome(root);
  const signer = await ensureIdentity(home);
  await createSpace(home, signer, "test");
  const input = join(root, "input.md");
  await writeFile(input, "one\n");
  await publish(home, signer, { standard: "style", file: input });
  const chosen = await chooseSpace(home, {});
  return { home, signer, input, spaceId: chosen.address.documentId };
}

/** {@link homeWithStandard}, and the fingerprint its disk proof holds for (the test fails when there is none). */
async function provenHome() {
  const made = await homeWithStandard();
  const fingerprint = provenFingerprint(made.home, made.spaceId, { statFiles: true });
  if (fingerprint === undefined) throw new Error("no proof");
  return { ...made, fingerprint };
}

/** Every chunk file of the space's documents, as paths. */
async function chunkFiles(
  home: ReturnType<typeof canonHome>,
  fingerprint: Record<string, string[]>,
): Promise<string[]> {
  return Object.entries(fingerprint).flatMap(([id, names]) =>
    names.map((name) => pathOfKey(home.replica, [id, ...name.split("/")])),
  );
}

describe("the disk proof (one read instead of listing every chunk)", () => {
  it("holds after a publish, naming exactly the files the caches name", async () => {
    const { home, spaceId } = await homeWithStandard();
    const proven = provenFingerprint(home, spaceId, { statFiles: true });
    expect(proven).toBeDefined();
    expect(proven).toEqual((await readVerifiedSnapshot(home, spaceId))?.fingerprint);
    // No batch is left open by a command that finished.
    expect(await readdir(writersPath(home.replica)).catch(() => [])).toEqual([]);
  });

  it("stops holding as soon as any process writes a chunk, even one that never writes the caches", async () => {
    const { home, spaceId } = await homeWithStandard();
    const replica = await openReplica(home);
    const handle = replica.create({
      canon: "standard",
      v: 1,
      name: "x",
      records: {},
      contents: {},
    });
    handle.change((doc) => {
      (doc as { name: string }).name = "y";
    });
    await replica.repo.flush([handle.documentId]);
    // Flushed but not closed: the writer's batch is open, and the token moved.
    expect(provenFingerprint(home, spaceId, { statFiles: false })).toBeUndefined();
    await replica.close();
    expect(provenFingerprint(home, spaceId, { statFiles: false })).toBeUndefined();
  });

  it("stops holding when a chunk file is edited, removed or touched by another tool (statFiles)", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    const [file] = await chunkFiles(home, fingerprint);
    if (file === undefined) throw new Error("no chunk file");
    // Times are compared with the generation's: move it into the past, as if written long ago.
    const past = new Date(Date.now() - 60_000);
    await utimes(generationPath(home.replica), past, past);
    const bytes = await readFile(file);
    await writeFile(file, bytes); // same bytes, written in place: its ctime moves
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toBeUndefined();
    // Without the file checks (show's path, which reads no chunk) the token alone decides.
    expect(provenFingerprint(home, spaceId, { statFiles: false })).toEqual(fingerprint);
    await rm(file);
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toBeUndefined();
  });

  it("keeps holding when automerge-repo adds a sync-state folder beside a document's chunks, and not when another tool adds a kind of chunk", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [documentId, names] = Object.entries(fingerprint)[0] ?? [];
    if (documentId === undefined || names === undefined) throw new Error("no document");
    // A first sync's late, throttled save of the peer's sync state (no chunk).
    await mkdir(pathOfKey(home.replica, [documentId, "sync-state"]), { recursive: true });
    await writeFile(pathOfKey(home.replica, [documentId, "sync-state", "peer"]), "state");
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toEqual(fingerprint);
    // A kind of chunk the proof names none of, with a chunk in it, put there by another tool.
    const kinds = new Set(names.map((name) => name.split("/")[0]));
    const missing = kinds.has("incremental") ? "snapshot" : "incremental";
    await mkdir(pathOfKey(home.replica, [documentId, missing]), { recursive: true });
    await writeFile(pathOfKey(home.replica, [documentId, missing, "forged"]), "bytes");
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toBeUndefined();
  });

  it("with a document whose chunks are of both kinds, stops holding when another tool adds a file to either kind's folder", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    const [documentId, names] = Object.entries(fingerprint)[0] ?? [];
    const [first] = names ?? [];
    if (documentId === undefined || first === undefined) throw new Error("no document");
    const kinds = ["snapshot", "incremental"];
    const other = kinds.find((kind) => !first.startsWith(`${kind}/`)) as string;
    // A second kind of chunk, as automerge-repo writes one (a copy of the first: the same changes).
    await mkdir(pathOfKey(home.replica, [documentId, other]), { recursive: true });
    await writeFile(
      pathOfKey(home.replica, [documentId, other, "second"]),
      await readFile(pathOfKey(home.replica, [documentId, ...first.split("/")])),
    );
    const both = await chunkFingerprint(home.replica, Object.keys(fingerprint));
    expect(new Set(both[documentId]?.map((name) => name.split("/")[0]))).toEqual(new Set(kinds));
    const replica = await openReplica(home);
    try {
      for (const kind of kinds) {
        expect(await recordDiskProof(home, replica.storage, spaceId, both)).toBeDefined();
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(provenFingerprint(home, spaceId, { statFiles: true })).toEqual(both);
        const forged = pathOfKey(home.replica, [documentId, kind, "forged"]);
        await writeFile(forged, "bytes");
        expect(provenFingerprint(home, spaceId, { statFiles: true })).toBeUndefined();
        await rm(forged);
      }
    } finally {
      await replica.close();
    }
  });

  it("is not recorded while another process is in the middle of a batch, and is once that process is gone", async () => {
    const { home, spaceId } = await homeWithStandard();
    const fingerprint = provenFingerprint(home, spaceId, { statFiles: false });
    if (fingerprint === undefined) throw new Error("no proof");
    // A live process's writer file: it may be writing now.
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    try {
      await mkdir(writersPath(home.replica), { recursive: true });
      await writeFile(join(writersPath(home.replica), `${child.pid}-abcdef`), "");
      const replica = await openReplica(home);
      expect(await recordDiskProof(home, replica.storage, spaceId, fingerprint)).toBeUndefined();
      // Killed mid-batch (kill -9): its writes are final, its file is cleared, the proof is taken again.
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      expect(await recordDiskProof(home, replica.storage, spaceId, fingerprint)).toMatch(
        /^[0-9a-f]{32}$/,
      );
      expect(provenFingerprint(home, spaceId, { statFiles: true })).toEqual(fingerprint);
      await replica.close();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("with documents proven unchanged at the start, looks at them not at all: the next reader that stats holds them to the start's time, so a file added beside their chunks meanwhile refuses it", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    const replica = await openReplica(home);
    const documents = Object.keys(fingerprint);
    const start = readGeneration(home.replica)?.changedMs as number;
    // Nothing changed: recorded without listing or stat'ing them, and it holds.
    expect(
      await recordDiskProof(home, replica.storage, spaceId, fingerprint, {
        sinceMs: start,
        documents,
      }),
    ).toMatch(/^[0-9a-f]{32}$/);
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toEqual(fingerprint);
    // Another tool adds a file beside a chunk while a command runs (after its start, before its proof).
    const since = readGeneration(home.replica)?.changedMs as number;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [file] = await chunkFiles(home, fingerprint);
    if (file === undefined) throw new Error("no chunk file");
    await writeFile(join(file, "..", "stray"), "");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const token = await recordDiskProof(home, replica.storage, spaceId, fingerprint, {
      sinceMs: since,
      documents,
    });
    // The proof is recorded (nothing looked at those documents), at a generation newer than the file…
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    // …and the next command's check holds them to the start's time: it sees the file.
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toBeUndefined();
    // A reader that stats nothing (show) trusts the token alone, as it always did.
    expect(provenFingerprint(home, spaceId, { statFiles: false })).toEqual(fingerprint);
    // Proven by a listing instead, it would have been refused: the listing names the stray file.
    expect(await recordDiskProof(home, replica.storage, spaceId, fingerprint)).toBeUndefined();
    await replica.close();
  });

  it("with documents proven unchanged at the start, sees a chunk edited in place meanwhile, which a listing does not", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    const replica = await openReplica(home);
    const since = readGeneration(home.replica)?.changedMs as number;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [file] = await chunkFiles(home, fingerprint);
    if (file === undefined) throw new Error("no chunk file");
    await writeFile(file, await readFile(file));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const unchanged = { sinceMs: since, documents: Object.keys(fingerprint) };
    expect(
      await recordDiskProof(home, replica.storage, spaceId, fingerprint, unchanged),
    ).toBeDefined();
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toBeUndefined();
    // The listing names the same files: its proof holds (the edit predates its generation).
    expect(await recordDiskProof(home, replica.storage, spaceId, fingerprint)).toBeDefined();
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toEqual(fingerprint);
    await replica.close();
  });

  it("holds to its generation's time only the documents it listed", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    const replica = await openReplica(home);
    const since = readGeneration(home.replica)?.changedMs as number;
    await new Promise((resolve) => setTimeout(resolve, 20));
    // A document this command wrote (here: its chunk touched) is listed, not held to the start's time.
    const [written, ...others] = Object.keys(fingerprint);
    const [name] = fingerprint[written as string] ?? [];
    if (written === undefined || name === undefined) throw new Error("no document");
    const path = pathOfKey(home.replica, [written, ...name.split("/")]);
    await writeFile(path, await readFile(path));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(
      await recordDiskProof(home, replica.storage, spaceId, fingerprint, {
        sinceMs: since,
        documents: others,
      }),
    ).toBeDefined();
    expect(provenFingerprint(home, spaceId, { statFiles: true })).toEqual(fingerprint);
    await replica.close();
  });

  it("written by this process, is read from its file again once another process rewrote or damaged it", async () => {
    const { home, spaceId, fingerprint } = await provenHome();
    const path = join(home.indexes, `${spaceId}.proof`);
    const token = readGeneration(home.replica)?.token;
    // Another process's proof at the same token, naming one document fewer.
    const [dropped] = Object.keys(fingerprint).filter((id) => id !== spaceId);
    if (dropped === undefined) throw new Error("no standard document");
    const { [dropped]: _, ...theirs } = fingerprint;
    await writeChecksummedJson(
      path,
      "CNP1",
      { v: 1, token, fingerprint: theirs },
      { durable: false },
    );
    expect(provenFingerprint(home, spaceId, { statFiles: false })).toEqual(theirs);
    // Damaged in place, same size: refused, as a proof read from disk always was.
    const bytes = await readFile(path);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x01;
    await writeFile(path, bytes);
    expect(provenFingerprint(home, spaceId, { statFiles: false })).toBeUndefined();
  });

  it("is refused when the files on disk are not those named", async () => {
    const { home, spaceId } = await homeWithStandard();
    const fingerprint = provenFingerprint(home, spaceId, { statFiles: false });
    if (fingerprint === undefined) throw new Error("no proof");
    const replica = await openReplica(home);
    const wrong = { ...fingerprint, [spaceId]: ["snapshot/not-there"] };
    expect(await recordDiskProof(home, replica.storage, spaceId, wrong)).toBeUndefined();
    await replica.close();
  });
});

describe("the replica's generation", () => {
  it("changes durably before a batch's first write and after each, with a writer file while the batch is open", async () => {
    const root = await mkdtemp(join(tmpdir(), "canon-generation-"));
    cleanup.push(root);
    const directory = join(root, "replica");
    const writer = new GenerationWriter(directory);
    const seen: (string | undefined)[] = [];
    await writer.write(async () => {
      // Inside the write: the token already differs from any taken before, and the batch is announced.
      seen.push(readGeneration(directory)?.token);
      expect(await readdir(writersPath(directory))).toEqual([writer.batch]);
    });
    const after = readGeneration(directory)?.token;
    expect(after).toBeDefined();
    expect(after).not.toBe(seen[0]);
    expect(await writer.end()).toBe(true);
    expect(await readdir(writersPath(directory))).toEqual([]);
  });
});

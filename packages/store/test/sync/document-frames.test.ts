import { describe, expect, it } from "vitest";
import {
  DOCUMENT_FRAMES_END,
  DOCUMENT_FRAMES_TAG,
  type DocumentFrame,
  documentFrameHeader,
  type FramesLimits,
  type FramesRefusal,
  readDocumentFrames,
} from "../../src/sync/document-frames.js";

const limits: FramesLimits = { maxDocumentBytes: 1024, maxTotalBytes: 4096 };

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function frame(id: string, bytes: Uint8Array): Uint8Array {
  return concat(documentFrameHeader(id, bytes.length), bytes);
}

/** A stream of `bytes` in pieces of `size` bytes (a frame split anywhere), then, with `hang`, never ending. */
async function* pieces(bytes: Uint8Array, size = 3, hang = false): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size)
    yield bytes.subarray(offset, offset + size);
  if (hang) await new Promise(() => {});
}

async function readAll(
  stream: AsyncIterable<Uint8Array>,
  within: FramesLimits = limits,
): Promise<{ frames: DocumentFrame[]; refused: FramesRefusal | undefined }> {
  const frames: DocumentFrame[] = [];
  const reading = readDocumentFrames(stream, within);
  for (;;) {
    const next = await reading.next();
    if (next.done === true) return { frames, refused: next.value };
    frames.push(next.value);
  }
}

const a = new Uint8Array([1, 2, 3]);
const b = new Uint8Array(500).fill(7);

describe("bulk answer frames", () => {
  it("read back what was framed, however the stream is cut into pieces", async () => {
    const answer = concat(
      DOCUMENT_FRAMES_TAG,
      frame("docA", a),
      frame("docB", b),
      DOCUMENT_FRAMES_END,
    );
    for (const size of [1, 2, 7, 4096]) {
      const { frames, refused } = await readAll(pieces(answer, size));
      expect(refused).toBeUndefined();
      expect(frames.map((read) => [read.documentId, [...read.bytes]])).toEqual([
        ["docA", [...a]],
        ["docB", [...b]],
      ]);
    }
  });

  it("refuse a wrong tag, an id that is not one, an answer cut short or followed by more", async () => {
    expect(
      (await readAll(pieces(concat(new Uint8Array([1, 2, 3, 4]), DOCUMENT_FRAMES_END)))).refused,
    ).toEqual({
      reason: "bad-tag",
    });
    const badId = concat(DOCUMENT_FRAMES_TAG, new Uint8Array([3, 0x2e, 0x2e, 0x2f, 0, 0, 0, 0]));
    expect((await readAll(pieces(badId))).refused).toEqual({ reason: "bad-id" });
    const longId = concat(DOCUMENT_FRAMES_TAG, new Uint8Array([200]));
    expect((await readAll(pieces(longId))).refused).toEqual({ reason: "bad-id" });
    const whole = concat(
      DOCUMENT_FRAMES_TAG,
      frame("docA", a),
      frame("docB", b),
      DOCUMENT_FRAMES_END,
    );
    for (const cut of [2, 10, whole.length - 100, whole.length - 1]) {
      const { frames, refused } = await readAll(pieces(whole.subarray(0, cut)));
      expect(refused).toEqual({ reason: "truncated" });
      // Only whole documents come out of a cut answer.
      for (const read of frames)
        expect(read.bytes.length).toBe(read.documentId === "docA" ? 3 : 500);
    }
    const more = concat(whole, new Uint8Array([0]));
    expect((await readAll(pieces(more))).refused).toEqual({ reason: "trailing-bytes" });
  });

  it("refuse a frame past the document limit from its length alone, without waiting for its bytes", async () => {
    const header = new Uint8Array(1 + 4 + 4);
    header[0] = 4;
    header.set(new TextEncoder().encode("docA"), 1);
    new DataView(header.buffer).setUint32(5, 0xffff_fff0);
    // The stream never ends: a reader that waited for the bytes would never return.
    const { frames, refused } = await readAll(
      pieces(concat(DOCUMENT_FRAMES_TAG, header), 64, true),
    );
    expect(frames).toEqual([]);
    expect(refused).toEqual({ reason: "too-large", documentId: "docA", byteLength: 0xffff_fff0 });
  });

  it("refuse an answer past the total limit, having yielded only the documents within it", async () => {
    const many = concat(
      DOCUMENT_FRAMES_TAG,
      ...Array.from({ length: 10 }, (_, index) => frame(`doc${index}`, b)),
      DOCUMENT_FRAMES_END,
    );
    const { frames, refused } = await readAll(pieces(many, 100));
    expect(refused).toEqual({ reason: "too-much" });
    expect(frames.length).toBeLessThan(10);
    expect(frames.reduce((total, read) => total + read.bytes.length, 0)).toBeLessThanOrEqual(4096);
  });

  it("will not frame what a reader would refuse", () => {
    expect(() => documentFrameHeader("", 1)).toThrow(RangeError);
    expect(() => documentFrameHeader("é", 1)).toThrow(RangeError);
    expect(() => documentFrameHeader("x".repeat(101), 1)).toThrow(RangeError);
    expect(() => documentFrameHeader("doc", 2 ** 32)).toThrow(RangeError);
  });
});

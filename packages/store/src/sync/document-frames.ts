// The framing of `GET /documents/<space>` (the relay's bulk answer to a
// joining home): a 4-byte tag, then one frame a document, then an end mark.
//
//   "CNB1"
//   frame: u8 id length (1–100) · id (ASCII) · u32 big-endian byte length · bytes
//   end:   u8 0
//
// Length-prefixed rather than CBOR: the bytes are Automerge's own encoding,
// opaque here, and a reader must refuse an oversized frame from its length
// alone, before buffering it; a CBOR sequence decoder would have to buffer
// the item to find where it ends. The end mark tells a complete answer from
// one cut short.

/** The tag every bulk answer starts with. */
export const DOCUMENT_FRAMES_TAG = new TextEncoder().encode("CNB1");

/** The end mark: a frame with an empty id. */
export const DOCUMENT_FRAMES_END = new Uint8Array([0]);

/** Longest document id a frame carries (automerge-repo's ids are about 28 characters). */
const MAX_ID_LENGTH = 100;

/** One document of a bulk answer: its id and its stored bytes (Automerge chunks, concatenated). */
export interface DocumentFrame {
  readonly documentId: string;
  readonly bytes: Uint8Array;
}

/** The header of one frame (id and length), to write before the document's bytes. */
export function documentFrameHeader(documentId: string, byteLength: number): Uint8Array {
  const id = new TextEncoder().encode(documentId);
  if (id.length < 1 || id.length > MAX_ID_LENGTH || id.length !== documentId.length)
    throw new RangeError(`not a document id: ${documentId.slice(0, 120)}`);
  if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength > 0xffff_ffff)
    throw new RangeError(`a frame holds at most 4 GiB, not ${byteLength} bytes`);
  const header = new Uint8Array(1 + id.length + 4);
  header[0] = id.length;
  header.set(id, 1);
  new DataView(header.buffer).setUint32(1 + id.length, byteLength);
  return header;
}

/** Why a bulk answer was not read to its end. */
export type FramesRefusal =
  | { readonly reason: "bad-tag" }
  | { readonly reason: "bad-id" }
  | { readonly reason: "too-large"; readonly documentId: string; readonly byteLength: number }
  | { readonly reason: "too-much" }
  | { readonly reason: "truncated" }
  | { readonly reason: "trailing-bytes" };

/** What a reader of frames allows. */
export interface FramesLimits {
  /** Most bytes one document may have; a larger frame ends the reading before it is buffered. */
  readonly maxDocumentBytes: number;
  /** Most bytes the whole answer may have. */
  readonly maxTotalBytes: number;
}

/**
 * Reads the frames of a bulk answer as they arrive, yielding each document
 * once its bytes are all here, so at most one document (bounded by
 * `maxDocumentBytes`) is buffered at a time. Returns undefined when the
 * answer ended with its end mark and nothing after it, or why it was
 * refused (a bad tag or id, a frame or a total past the limits, an answer
 * cut short or followed by more bytes). Never throws for what the stream
 * holds; a stream that fails rejects as it does.
 */
export async function* readDocumentFrames(
  stream: AsyncIterable<Uint8Array>,
  limits: FramesLimits,
): AsyncGenerator<DocumentFrame, FramesRefusal | undefined> {
  const reader = new ByteQueue(stream[Symbol.asyncIterator]());
  let total = 0;
  const take = async (count: number): Promise<Uint8Array | undefined> => {
    total += count;
    if (total > limits.maxTotalBytes) return undefined;
    return reader.take(count);
  };
  const tag = await take(DOCUMENT_FRAMES_TAG.length);
  if (tag === undefined)
    return total > limits.maxTotalBytes ? { reason: "too-much" } : { reason: "truncated" };
  if (!tag.every((byte, index) => byte === DOCUMENT_FRAMES_TAG[index]))
    return { reason: "bad-tag" };
  for (;;) {
    const idLength = await take(1);
    if (idLength === undefined) return cutShort();
    const length = idLength[0] as number;
    if (length === 0) break;
    if (length > MAX_ID_LENGTH) return { reason: "bad-id" };
    const id = await take(length);
    if (id === undefined) return cutShort();
    if (!id.every(isIdByte)) return { reason: "bad-id" };
    const documentId = new TextDecoder().decode(id);
    const size = await take(4);
    if (size === undefined) return cutShort();
    const byteLength = new DataView(size.buffer, size.byteOffset, 4).getUint32(0);
    if (byteLength > limits.maxDocumentBytes)
      return { reason: "too-large", documentId, byteLength };
    const bytes = await take(byteLength);
    if (bytes === undefined) return cutShort();
    yield { documentId, bytes };
  }
  return (await reader.atEnd()) ? undefined : { reason: "trailing-bytes" };

  function cutShort(): FramesRefusal {
    return total > limits.maxTotalBytes ? { reason: "too-much" } : { reason: "truncated" };
  }
}

/** Letters and digits: what a document id (base58) is made of. */
function isIdByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a)
  );
}

/** Bytes from an iterator of chunks, taken a given count at a time. */
class ByteQueue {
  readonly #source: AsyncIterator<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;

  constructor(source: AsyncIterator<Uint8Array>) {
    this.#source = source;
  }

  /** The next `count` bytes, or undefined when the stream ends first. */
  async take(count: number): Promise<Uint8Array | undefined> {
    while (this.#buffered < count) if (!(await this.#pull())) return undefined;
    const taken = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0] as Uint8Array;
      const part = Math.min(chunk.length, count - filled);
      taken.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    this.#buffered -= count;
    return taken;
  }

  /** True when nothing is left to read. */
  async atEnd(): Promise<boolean> {
    while (this.#buffered === 0) if (!(await this.#pull())) return true;
    return false;
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#source.next();
    if (next.done === true) {
      this.#done = true;
      return false;
    }
    if (next.value.length > 0) {
      this.#chunks.push(next.value);
      this.#buffered += next.value.length;
    }
    return true;
  }
}

/**
 * Splits the bytes a client writes to the owner's socket into lines,
 * whatever the split: a request and its `go` in one write, a request byte by
 * byte, several requests' worth at once. Bytes, not characters: a line's
 * bound is in bytes, and a multi-byte character cut between two reads is
 * whole again in its line. Hostile input (any local process of the same user
 * can write to the socket) is bounded: a line longer than the bound, ended
 * or not, is reported as too long rather than buffered.
 */
export class LineReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #overlong = false;

  /** @param maxLineBytes the longest line taken, its newline not counted. */
  constructor(private readonly maxLineBytes: number) {}

  /**
   * Adds `chunk`; returns the lines it completed, in order, without their
   * newline (nor a `\r` before it), and `overlong` once a line (ended or
   * still pending) has passed the bound: nothing after it is returned, then
   * or later.
   */
  push(chunk: Buffer): { lines: Buffer[]; overlong: boolean } {
    const lines: Buffer[] = [];
    if (this.#overlong) return { lines, overlong: true };
    let start = 0;
    for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, at);
      start = at + 1;
      if (this.#pendingBytes + piece.length > this.maxLineBytes + 1) {
        this.#overlong = true;
        return { lines, overlong: true };
      }
      let line = this.#pendingBytes === 0 ? piece : Buffer.concat([...this.#pending, piece]);
      this.#pending = [];
      this.#pendingBytes = 0;
      if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
      if (line.length > this.maxLineBytes) {
        this.#overlong = true;
        return { lines, overlong: true };
      }
      lines.push(line);
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      if (this.#pendingBytes + rest.length > this.maxLineBytes + 1) {
        this.#overlong = true;
        return { lines, overlong: true };
      }
      // A copy: a slice would keep the whole chunk in memory.
      this.#pending.push(Buffer.from(rest));
      this.#pendingBytes += rest.length;
    }
    return { lines, overlong: false };
  }

  /** Bytes received after the last complete line. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}

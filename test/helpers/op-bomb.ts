import { createHash } from "node:crypto";

// A run-length bomb: an Automerge change chunk, written byte by byte, whose
// columns declare `count` list inserts in runs of a few bytes each (see
// https://automerge.org/automerge-binary-format-spec/). With `count` 1,000 it is
// byte for byte what Automerge writes for a change inserting 1,000 `true`s
// into a list (checked in packages/store/test/sync/chunk-items.test.ts).

function uleb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  for (;;) {
    const byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
    if ((rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Where a bomb's inserts go: a list made by the first op of `base`'s last change. */
export interface BombTarget {
  /** The actor of the change making the list, in hex. */
  readonly actor: string;
  /** The hash of that change, in hex. */
  readonly dependency: string;
  /** The next sequence number and op counter of that actor. */
  readonly seq: number;
  readonly startOp: number;
}

/** What a bomb needs of a decoded change (`Automerge.decodeChange`). */
export interface DecodedBase {
  readonly actor: string;
  readonly hash?: string | undefined;
  readonly seq: number;
  readonly startOp: number;
  readonly ops: readonly unknown[];
}

/**
 * The target of a bomb after `base`, a document's last change (decoded),
 * whose first op made a list (`A.from({ l: [] })`). No Automerge import here:
 * the helper is shared by packages that each bring their own.
 */
export function bombTargetOf(base: DecodedBase): BombTarget {
  return {
    actor: base.actor,
    dependency: base.hash as string,
    seq: base.seq + 1,
    startOp: base.startOp + base.ops.length,
  };
}

/** A change chunk of `count` inserts of `true` into the target's list, in about 120 bytes whatever `count`. */
export function insertBomb(count: number, target: BombTarget, time = 0): Uint8Array {
  const columns: [number, number[]][] = [
    [0x01, [...sleb(count), 0]],
    [0x02, [...sleb(count), ...uleb(target.startOp - 1)]],
    [0x11, [0, 1, ...sleb(count - 1), 0]],
    [0x13, [0x7e, 0, target.startOp, ...sleb(count - 2), 1]],
    [0x34, [0, ...uleb(count)]],
    [0x42, [...sleb(count), 1]],
    [0x56, [...sleb(count), 2]],
    [0x70, [...sleb(count), 0]],
  ];
  const actor = [...Buffer.from(target.actor, "hex")];
  const body = [
    1,
    ...Buffer.from(target.dependency, "hex"),
    ...uleb(actor.length),
    ...actor,
    ...uleb(target.seq),
    ...uleb(target.startOp),
    ...sleb(time),
    0,
    0,
    ...uleb(columns.length),
  ];
  for (const [spec, data] of columns) body.push(...uleb(spec), ...uleb(data.length));
  for (const [, data] of columns) body.push(...data);
  const typed = Uint8Array.from([1, ...uleb(body.length), ...body]);
  const hash = createHash("sha256").update(typed).digest();
  return Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, ...hash.subarray(0, 4), ...typed]);
}

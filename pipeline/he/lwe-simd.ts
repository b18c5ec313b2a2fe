/**
 * The LWE server scan, out = W_q·X mod 2^32, and the client's products with its 32-bit matrices (A·s,
 * H·s: `mulMod32`), as a WebAssembly SIMD kernel (128-bit lanes: four 32-bit multiply-adds per
 * instruction pair), with lwe.ts's plain-JS `matmulMod32` as the fallback where WASM SIMD is unavailable.
 * The module is a few dozen instructions, assembled here from its opcodes (no toolchain, no binary in the
 * repository): one exported memory holding the weights (signed 16-bit, rows padded to a multiple of 8),
 * the queries (32-bit words) and the results, and one function
 *
 *   matmul(w, x, out, C, dPadded, Q):  for r < C, q < Q:  out[q·C + r] = Σ_k w[r][k]·x[q][k]  (mod 2^32)
 *
 * whose inner loop sign-extends four weights (v128.load16x4_s; a second module loads four 32-bit words
 * instead, v128.load, for a client's matrices), multiplies them by four query words (i32x4.mul) and
 * accumulates (i32x4.add), two such groups per iteration. Wrap-around mod 2^32 is the
 * hardware's; there is no reduction at all.
 */
import { matmulMod32 } from './lwe.js';

const u32 = (v: number): number[] => {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
};
const vec = (items: number[][]): number[] => [...u32(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...u32(body.length), ...body];
const str = (s: string): number[] => [...u32(s.length), ...Buffer.from(s, 'utf8')];

// Opcodes (WebAssembly core 2.0 and the fixed-width SIMD proposal).
const I32 = 0x7f;
const V128 = 0x7b;
const get = (i: number) => [0x20, ...u32(i)];
const set = (i: number) => [0x21, ...u32(i)];
const i32c = (v: number) => [0x41, ...u32(v)]; // small non-negative constants only (< 64)
const ADD = 0x6a;
const GE_U = 0x4f;
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const br = (depth: number) => [0x0c, depth];
const brIf = (depth: number) => [0x0d, depth];
const simd = (op: number, ...imm: number[]) => [0xfd, ...u32(op), ...imm];
const memarg = (offset: number) => [0x00, ...u32(offset)];
const V128_LOAD = (offset: number) => simd(0x00, ...memarg(offset));
const LOAD16X4_S = (offset: number) => simd(0x03, ...memarg(offset));
const I32X4_SPLAT = simd(0x11);
const I32X4_EXTRACT = (lane: number) => simd(0x1b, lane);
const I32X4_ADD = simd(0xae);
const I32X4_MUL = simd(0xb5);
const I32_STORE = [0x36, 0x02, 0x00];

/** The module for weights of `weightBytes` bytes (2: signed 16-bit, sign-extended; 4: 32-bit words). */
function assemble(weightBytes: 2 | 4): Uint8Array<ArrayBuffer> {
  const wShift = weightBytes === 2 ? 1 : 2;
  const loadW = weightBytes === 2 ? LOAD16X4_S : V128_LOAD;
  // params: 0 w, 1 x, 2 out, 3 C, 4 d (padded), 5 Q; locals: 6 r, 7 q, 8 pw, 9 px, 10 pwEnd, 11 wRow, 12 acc0, 13 acc1, 14 pOut
  const [W, X, OUT, C, D, Q, R, QI, PW, PX, PWEND, WROW, ACC0, ACC1, POUT] = Array.from({ length: 15 }, (_, i) => i);
  // Locals 6..11 are i32 (6 of them), 12..13 v128, 14 i32.
  const locals = vec([[...u32(6), I32], [...u32(2), V128], [...u32(1), I32]]);
  const code = [
    ...i32c(0), ...set(R),
    ...get(W), ...set(WROW),
    ...BLOCK, ...LOOP, // rows
    ...get(R), ...get(C), GE_U, ...brIf(1),
    ...get(WROW), ...get(D), ...i32c(wShift), 0x74 /* i32.shl */, ADD, ...set(PWEND),
    ...i32c(0), ...set(QI),
    ...get(X), ...set(PX),
    ...get(OUT), ...get(R), ...i32c(2), 0x74, ADD, ...set(POUT),
    ...BLOCK, ...LOOP, // queries
    ...get(QI), ...get(Q), GE_U, ...brIf(1),
    ...get(WROW), ...set(PW),
    ...i32c(0), ...I32X4_SPLAT, ...set(ACC0),
    ...i32c(0), ...I32X4_SPLAT, ...set(ACC1),
    ...LOOP, // k, 8 per iteration (d is a multiple of 8, ≥ 8)
    ...get(ACC0), ...get(PW), ...loadW(0), ...get(PX), ...V128_LOAD(0), ...I32X4_MUL, ...I32X4_ADD, ...set(ACC0),
    ...get(ACC1), ...get(PW), ...loadW(4 * weightBytes), ...get(PX), ...V128_LOAD(16), ...I32X4_MUL, ...I32X4_ADD, ...set(ACC1),
    ...get(PX), ...i32c(32), ADD, ...set(PX),
    ...get(PW), ...i32c(8 * weightBytes), ADD, 0x22 /* local.tee */, ...u32(PW),
    ...get(PWEND), 0x49 /* i32.lt_u */, ...brIf(0),
    END,
    // out[q·C + r] = Σ lanes(acc0 + acc1)
    ...get(ACC0), ...get(ACC1), ...I32X4_ADD, ...set(ACC0),
    ...get(POUT),
    ...get(ACC0), ...I32X4_EXTRACT(0), ...get(ACC0), ...I32X4_EXTRACT(1), ADD,
    ...get(ACC0), ...I32X4_EXTRACT(2), ADD, ...get(ACC0), ...I32X4_EXTRACT(3), ADD,
    ...I32_STORE,
    ...get(POUT), ...get(C), ...i32c(2), 0x74, ADD, ...set(POUT),
    ...get(QI), ...i32c(1), ADD, ...set(QI),
    ...br(0),
    END, END,
    ...get(R), ...i32c(1), ADD, ...set(R),
    ...get(PWEND), ...set(WROW),
    ...br(0),
    END, END,
    END,
  ];
  const fn = [...locals, ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0x00]])),
    ...section(3, vec([[0x00]])),
    ...section(5, vec([[0x00, 0x01]])), // one memory, min 1 page, no maximum
    ...section(7, vec([[...str('mem'), 0x02, 0x00], [...str('matmul'), 0x00, 0x00]])),
    ...section(10, vec([[...u32(fn.length), ...fn]])),
  ];
  return new Uint8Array(bytes);
}

const MODULE_BYTES = { 2: assemble(2), 4: assemble(4) } as const;

/** Whether this runtime runs the SIMD kernel (WebAssembly with fixed-width SIMD). */
export const simdAvailable: boolean = (() => {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(MODULE_BYTES[2]) && WebAssembly.validate(MODULE_BYTES[4]);
  } catch {
    return false;
  }
})();

const PAGE = 65536;
/** Rows padded to a multiple of this many weights. */
const LANES = 8;

/** Most matrix bytes one WASM instance holds (a WASM32 memory addresses 4 GiB; the rest is queries and results). */
const BANK_BYTES = 2 ** 31;

/** One WASM instance holding rows [first, first + rows) of a matrix, padded to `dp` words per row. */
class Bank {
  readonly first: number;
  readonly rows: number;
  readonly #memory: WebAssembly.Memory;
  readonly #matmul: (w: number, x: number, out: number, C: number, d: number, Q: number) => void;
  readonly #rowBytes: number;
  readonly #xBase: number;
  #capacity = 0;

  constructor(weights: Int16Array | Int32Array, first: number, rows: number, d: number, dp: number) {
    const bytes = weights instanceof Int16Array ? 2 : 4;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE_BYTES[bytes]), {});
    this.first = first;
    this.rows = rows;
    this.#memory = instance.exports.mem as WebAssembly.Memory;
    this.#matmul = instance.exports.matmul as unknown as (w: number, x: number, out: number, C: number, d: number, Q: number) => void;
    this.#rowBytes = dp * bytes;
    this.#xBase = Math.ceil((rows * this.#rowBytes) / 64) * 64;
    this.#ensure(this.#xBase);
    const w = bytes === 2 ? new Int16Array(this.#memory.buffer, 0, rows * dp) : new Int32Array(this.#memory.buffer, 0, rows * dp);
    const mine = weights.subarray(first * d, (first + rows) * d);
    if (dp === d) w.set(mine);
    else for (let r = 0; r < rows; r++) w.set(mine.subarray(r * d, (r + 1) * d), r * dp);
  }

  #ensure(bytes: number): void {
    const have = this.#memory.buffer.byteLength;
    if (bytes > have) this.#memory.grow(Math.ceil((bytes - have) / PAGE));
    this.#capacity = this.#memory.buffer.byteLength;
  }

  /** The Q × rows products of this bank's rows [from, from + rows) (bank-relative) with xs (Q × dp words, padded), into out[q·stride + at + r]. */
  matmul(xs: Int32Array, Q: number, dp: number, from: number, rows: number, out: Int32Array, stride: number, at: number): void {
    const outBase = this.#xBase + Q * dp * 4;
    if (outBase + Q * rows * 4 > this.#capacity) this.#ensure(outBase + Q * rows * 4);
    const x = new Int32Array(this.#memory.buffer, this.#xBase, Q * dp);
    x.set(xs);
    this.#matmul(from * this.#rowBytes, this.#xBase, outBase, rows, dp, Q);
    const result = new Int32Array(this.#memory.buffer, outBase, Q * rows);
    if (stride === rows && at === 0) out.set(result);
    else for (let q = 0; q < Q; q++) out.set(result.subarray(q * rows, (q + 1) * rows), q * stride + at);
    // The queries and results may be a client's secrets and what they unmask: not left in the instance.
    x.fill(0);
    result.fill(0);
  }
}

/**
 * A matrix resident in WASM instances of its own, multiplied by the SIMD kernel: the server's quantised
 * weights (Int16Array) or a client's 32-bit matrix (Int32Array: the public A of its queries, the
 * catalogue's hint). A WASM32 memory addresses 4 GiB, so the rows are held in banks of at most 2 GiB,
 * one instance each (a 10^6-class hint is 4 GiB: two banks), and a product spans the banks it needs.
 */
export class SimdScan {
  readonly #banks: Bank[] = [];
  readonly #C: number;
  readonly #d: number;
  readonly #dp: number;

  /** `bankBytes`: most matrix bytes per instance (2 GiB; smaller only to test the banks on small matrices). */
  constructor(weights: Int16Array | Int32Array, C: number, d: number, bankBytes = BANK_BYTES) {
    if (!simdAvailable) throw new Error('WebAssembly SIMD is not available');
    if (weights.length !== C * d) throw new RangeError(`${weights.length} weights for a ${C} × ${d} matrix`);
    const bytes = weights instanceof Int16Array ? 2 : 4;
    const dp = Math.ceil(d / LANES) * LANES;
    this.#C = C;
    this.#d = d;
    this.#dp = dp;
    const perBank = Math.max(1, Math.floor(Math.min(bankBytes, BANK_BYTES) / (dp * bytes)));
    for (let first = 0; first < C; first += perBank) this.#banks.push(new Bank(weights, first, Math.min(perBank, C - first), d, dp));
  }

  /** WASM instances holding the rows. */
  get banks(): number {
    return this.#banks.length;
  }

  /**
   * out[q·rows + r] = W[firstRow + r]·x_q mod 2^32 for Q queries given as Q × d words (row-major); all
   * rows unless `firstRow`/`rows` name a range of them.
   */
  matmul(x: Int32Array, Q: number, out: Int32Array, firstRow = 0, rows = this.#C - firstRow): void {
    if (!Number.isInteger(firstRow) || !Number.isInteger(rows) || firstRow < 0 || rows < 0 || firstRow + rows > this.#C) throw new RangeError(`rows ${firstRow}+${rows} of ${this.#C}`);
    if (x.length < Q * this.#d || out.length < Q * rows) throw new RangeError(`matmul of ${Q} queries: x has ${x.length} words, out ${out.length}`);
    const d = this.#d;
    const dp = this.#dp;
    const padded = dp !== d;
    const xs = padded ? new Int32Array(Q * dp) : x.subarray(0, Q * d);
    if (padded) for (let q = 0; q < Q; q++) xs.set(x.subarray(q * d, (q + 1) * d), q * dp);
    const end = firstRow + rows;
    for (const b of this.#banks) {
      const from = Math.max(firstRow, b.first);
      const to = Math.min(end, b.first + b.rows);
      if (from < to) b.matmul(xs, Q, dp, from - b.first, to - from, out, rows, from - firstRow);
    }
    if (padded) xs.fill(0);
  }
}

const scans = new WeakMap<Int32Array, SimdScan>();

/**
 * out[q·rows + r] = M[firstRow + r]·s_q mod 2^32 for the Q vectors of `s` (Q × n words), M a rows-major
 * matrix of n-word rows: the SIMD kernel where it runs (one resident copy per matrix per process), the
 * plain-JS loop elsewhere. A client's A·s (encryption) and H·s (decryption).
 */
export function mulMod32(m: Int32Array, n: number, s: Int32Array, Q: number, out: Int32Array, firstRow = 0, rows = m.length / n - firstRow): void {
  if (!simdAvailable) {
    matmulMod32(m.subarray(firstRow * n, (firstRow + rows) * n), rows, n, s, Q, out);
    return;
  }
  let scan = scans.get(m);
  if (!scan) scans.set(m, scan = new SimdScan(m, m.length / n, n));
  scan.matmul(s, Q, out, firstRow, rows);
}

/**
 * Cuts an unbounded PCM stream into the same feature windows a whole-clip extraction would give,
 * holding only a bounded tail of audio. Each extraction reads a slice that starts the extractor's context
 * before the audio it is for (on its frame grid) and reaches the context past it, never more.
 *
 * With a blockwise extractor (the landmark kind) the audio becomes block features as it arrives, a few
 * seconds at a time, and a window is summed from its blocks when its last one is in: at many stations
 * whose windows end together, a window's end costs the few seconds not yet extracted, not the window.
 * Otherwise each batch of windows is extracted at its end from its own audio and context.
 */
import type { BlockwiseFeatures, FeatureExtractor } from './extractor.js';

export interface StreamWindow {
  seq: number;
  startSeconds: number;
  vector: Float32Array;
  /** The window's landmarks, packed (with the `landmarks` option and an extractor that keeps them). */
  landmarks?: Uint32Array;
}

export interface StreamWindowerOptions {
  /** Seconds of audio a blockwise extractor turns into block features at a time (default 7.5). */
  groupSeconds?: number;
  /**
   * Where window 0 starts, in [0, hop): a service with many sessions gives each its own phase so their
   * windows do not all end (and get extracted, encrypted, scored and decided) in the same instant. The
   * audio before it is only its first window's context.
   */
  phaseSeconds?: number;
  /** Keep each window's landmarks from the same extraction (`StreamWindow.landmarks`). */
  landmarks?: boolean;
}

export class StreamWindower {
  /** The held audio lives in `store` from `head` on, `held` samples: appends and trims move no samples until the store is full. */
  private store = new Float32Array(0);
  private head = 0;
  private held = 0;
  /** Absolute sample index of buffer[0]. */
  private bufferStart = 0;
  private nextSeq = 0;
  private readonly hop: number;
  private readonly win: number;
  /** Audio a window needs before its start and after its end: waited for exactly, not rounded up to a hop. */
  private readonly context: number;
  /** First window on the grid inside the audio this windower got (0 from a stream's start). */
  private readonly originSeq: number = 0;
  /** Where window 0 starts: the grid is phase + k·hop (see StreamWindowerOptions.phaseSeconds). */
  private readonly phase: number;
  /** Where this windower's audio begins for its slices: 0, or the first window's start when joining. */
  private readonly origin: number = 0;
  private readonly blockwise?: BlockwiseFeatures;
  /** Samples per block and blocks per window (blockwise only). */
  private readonly bs: number = 0;
  private readonly wb: number = 0;
  /** Blocks extracted together once their audio and context are in (unless a window needs them sooner). */
  private readonly groupBlocks: number = 0;
  private readonly leadContext: number = 0;
  /** Features of blocks from `blockBase` on, up to `nextBlock` (the first not yet extracted). */
  private blockFeatures: Int32Array[] = [];
  /** Their landmarks, in step with `blockFeatures` (with the `landmarks` option). */
  private blockMarks: Uint32Array[] = [];
  private readonly keepMarks: boolean;
  private blockBase = 0;
  private nextBlock = 0;

  /**
   * With `startSample` > 0 the windower joins a stream already under way (after a restart, a rebalance or
   * a reconnect): its first window is the first one whose left context lies inside the audio it gets.
   */
  constructor(private readonly extractor: FeatureExtractor, startSample = 0, opts: StreamWindowerOptions = {}) {
    this.hop = Math.round(extractor.hopSeconds * extractor.sampleRate);
    this.win = Math.round(extractor.windowSeconds * extractor.sampleRate);
    this.context = Math.ceil(extractor.contextSeconds * extractor.sampleRate);
    this.phase = Math.round((opts.phaseSeconds ?? 0) * extractor.sampleRate);
    this.keepMarks = !!opts.landmarks && !!extractor.blockwise?.landmarks;
    if (this.phase < 0 || this.phase >= this.hop) throw new RangeError(`window phase ${opts.phaseSeconds} s is outside [0, hop)`);
    if (startSample > 0) {
      // Joining: the first window is the first one on the grid inside the audio; like a stream's first
      // window it has no left context, the ones after it have all of theirs.
      this.bufferStart = startSample;
      this.originSeq = Math.max(0, Math.ceil((startSample - this.phase) / this.hop));
      this.nextSeq = this.originSeq;
      this.origin = this.startOf(this.originSeq);
    }
    const bw = extractor.blockwise;
    if (bw && this.hop % bw.blockSamples === 0 && this.win % bw.blockSamples === 0 && this.phase % bw.blockSamples === 0) {
      this.blockwise = bw;
      this.bs = bw.blockSamples;
      this.wb = this.win / this.bs;
      // 7.5 s at a time, and everything but a window's last block as soon as it is in: the push that
      // completes a window extracts ~2 s of audio (one block and its context) instead of ~17 s, for ~30 %
      // more extraction over the stream (each extraction reads its context again).
      this.groupBlocks = Math.max(1, Math.round(((opts.groupSeconds ?? 7.5) * extractor.sampleRate) / this.bs));
      this.leadContext = Math.ceil(bw.leadContextSeconds * extractor.sampleRate);
      this.blockBase = this.nextBlock = this.startOf(this.originSeq) / this.bs;
    }
    if (extractor.probes > 0 && !this.blockwise) throw new RangeError('probe windows need a blockwise extractor on its block grid (window, hop and phase in whole blocks)');
  }

  /** Index of the next window this windower will emit. */
  get next(): number {
    return this.nextSeq;
  }

  /** First sample the windower still holds for windows from `seq` on (what a restart must read again). */
  keepFromSample(seq = this.nextSeq): number {
    return this.sliceStartFor(Math.max(this.originSeq, seq - 1));
  }

  /**
   * Where the slice for windows from grid window `seq` on starts: the context before the window, on the
   * extractor's frame grid, so the slice's analysis frames are the whole stream's; at the stream's start
   * when the context reaches before it (or a joined stream's first window, which has no left context).
   */
  private sliceStartFor(seq: number): number {
    return this.sliceStartAt(this.startOf(seq));
  }

  /** Sample index where window `seq` starts. */
  startOf(seq: number): number {
    return this.phase + seq * this.hop;
  }

  /** Where a slice for the audio from sample `at` on starts, `context` before it (see sliceStartFor). */
  private sliceStartAt(at: number, context = this.context): number {
    const origin = this.origin;
    const want = at - context;
    if (want <= origin) return origin;
    const frame = this.extractor.frameSamples;
    const aligned = want - (((want % frame) + frame) % frame);
    return aligned >= this.bufferStart ? aligned : origin;
  }

  /** The audio of [from, to) still held (clipped to what is held). */
  audio(from: number, to: number): { pcm: Float32Array; start: number } {
    const a = Math.max(from, this.bufferStart);
    const b = Math.min(to, this.samplesSeen);
    return { pcm: this.buffer.subarray(a - this.bufferStart, Math.max(a, b) - this.bufferStart), start: a };
  }

  /** Sample index where window `seq` ends. */
  windowEndSample(seq: number): number {
    return this.startOf(seq) + this.win;
  }

  /** Samples received so far. */
  get samplesSeen(): number {
    return this.bufferStart + this.held;
  }

  /**
   * Appends `pcm` (which must start at sample `startSample`; a gap is filled with silence, an overlap is
   * dropped) and returns the windows now complete. With `final`, flushes every window that starts in the audio.
   */
  push(pcm: Float32Array, startSample: number, final: boolean): StreamWindow[] {
    this.append(pcm, startSample);
    if (this.blockwise) return this.pushBlocks(this.blockwise, final);
    const end = this.samplesSeen;
    const ctx = this.context;
    // Last window whose end plus its right context is available (or, when final, that starts before the end).
    const lastReady = final
      ? Math.ceil((end - this.phase) / this.hop) - 1
      : Math.floor((end - this.phase - this.win - ctx) / this.hop);
    if (lastReady < this.nextSeq) return [];
    const firstSeq = this.nextSeq;
    // The final flush starts one window early, so the extractor sees the stream's end as the whole clip's
    // extraction does (which has no trailing partial window once a full one precedes it); hence the
    // audio of that window is kept (`keepFromSample`), though it is not extracted again until then.
    const fromSeq = final ? Math.max(this.originSeq, firstSeq - 1) : firstSeq;
    const sliceStart = this.sliceStartFor(fromSeq);
    const sliceEnd = Math.min(end, this.startOf(lastReady) + this.win + ctx);
    const slice = this.buffer.subarray(sliceStart - this.bufferStart, sliceEnd - this.bufferStart);
    const fw = this.extractor.windows(slice, this.startOf(fromSeq) - sliceStart);
    const out: StreamWindow[] = [];
    for (let j = 0; j < fw.vectors.length; j++) {
      const seq = fromSeq + j;
      if (seq < firstSeq || seq > lastReady) continue;
      out.push({ seq, startSeconds: this.startOf(seq) / this.extractor.sampleRate, vector: fw.vectors[j] });
    }
    this.nextSeq = lastReady + 1;
    this.trim();
    return out;
  }

  /**
   * Blockwise: extracts the blocks whose audio and right context are in once a group of them is (or a
   * window needs them), then emits every window whose blocks are all extracted. At the end of the stream
   * the remaining blocks are extracted up to its last sample, and the windows are those of the whole clip:
   * the full ones, or the stream's one partial window when it never held a full one.
   */
  private pushBlocks(bw: BlockwiseFeatures, final: boolean): StreamWindow[] {
    const end = this.samplesSeen;
    const first = this.startOf(this.originSeq);
    const out: StreamWindow[] = [];
    /** Emits window nextSeq from its blocks up to `toBlock` (its end, or the stream's for a partial one). */
    const emit = (toBlock: number): void => {
      const seq = this.nextSeq++;
      const from = this.startOf(seq) / this.bs;
      const vector = this.withProbes(bw, this.blockFeatures.slice(from - this.blockBase, toBlock - this.blockBase));
      const landmarks = this.keepMarks ? bw.landmarks!.window(this.blockMarks.slice(from - this.blockBase, toBlock - this.blockBase)) : undefined;
      out.push({ seq, startSeconds: this.startOf(seq) / this.extractor.sampleRate, vector, ...(landmarks ? { landmarks } : {}) });
    };
    if (final) {
      if (end <= first) return [];
      const total = first / this.bs + Math.max(1, Math.ceil((end - first) / this.bs - 1e-6));
      if (total > this.nextBlock) this.extractBlocks(bw, this.nextBlock, total, end);
      const firstSeq = this.nextSeq;
      while (this.startOf(this.nextSeq) / this.bs + this.wb <= total) emit(this.startOf(this.nextSeq) / this.bs + this.wb);
      if (firstSeq === this.originSeq && out.length === 0) emit(total);
    } else {
      const ready = Math.floor((end - this.context) / this.bs);
      const due = this.startOf(this.nextSeq) / this.bs + this.wb;
      if (ready > this.nextBlock && (ready - this.nextBlock >= this.groupBlocks || ready >= due - 1)) {
        this.extractBlocks(bw, this.nextBlock, ready, Math.min(end, ready * this.bs + this.context));
      }
      while (this.startOf(this.nextSeq) / this.bs + this.wb <= this.nextBlock) emit(this.startOf(this.nextSeq) / this.bs + this.wb);
    }
    // Windows from nextSeq on need their blocks only.
    const keep = this.startOf(this.nextSeq) / this.bs;
    if (keep > this.blockBase) {
      this.blockFeatures = this.blockFeatures.slice(Math.min(this.blockFeatures.length, keep - this.blockBase));
      if (this.keepMarks) this.blockMarks = this.blockMarks.slice(Math.min(this.blockMarks.length, keep - this.blockBase));
      this.blockBase = Math.min(keep, this.nextBlock);
    }
    this.trim();
    return out;
  }

  /**
   * A window's vector from its blocks and, when the extractor has probes, each probe's vector after it:
   * probe i is the window's i-th of `probes` equal parts (empty past a partial window's end: a zero vector).
   */
  private withProbes(bw: BlockwiseFeatures, blocks: readonly Int32Array[]): Float32Array {
    const P = this.extractor.probes;
    const main = bw.window(blocks);
    if (P === 0) return main;
    const pb = this.wb / P;
    const out = new Float32Array(main.length * (1 + P));
    out.set(main, 0);
    for (let i = 0; i < P; i++) out.set(bw.window(blocks.slice(i * pb, (i + 1) * pb)), (i + 1) * main.length);
    return out;
  }

  /** Extracts blocks [from, to) from the held audio up to sample `sliceEnd`. */
  private extractBlocks(bw: BlockwiseFeatures, from: number, to: number, sliceEnd: number): void {
    const sliceStart = this.sliceStartAt(from * this.bs, this.leadContext);
    const slice = this.buffer.subarray(sliceStart - this.bufferStart, sliceEnd - this.bufferStart);
    if (this.keepMarks) {
      const r = bw.landmarks!.blockFeatures(slice, from * this.bs - sliceStart, to - from);
      this.blockFeatures.push(...r.features);
      this.blockMarks.push(...r.landmarks);
    } else {
      this.blockFeatures.push(...bw.blockFeatures(slice, from * this.bs - sliceStart, to - from));
    }
    this.nextBlock = to;
  }

  /** The held audio (a view: valid until the next push). */
  private get buffer(): Float32Array {
    return this.store.subarray(this.head, this.head + this.held);
  }

  private append(pcm: Float32Array, startSample: number): void {
    let data = pcm;
    const end2 = this.samplesSeen;
    if (startSample < end2) data = pcm.subarray(Math.min(pcm.length, end2 - startSample));
    const gap = Math.max(0, startSample - end2);
    const need = this.held + gap + data.length;
    if (this.head + need > this.store.length) {
      // Move the held audio to the front of a store with room to spare: amortised, not once per chunk.
      const next = need * 2 > this.store.length ? new Float32Array(need * 2) : this.store;
      if (next === this.store) next.copyWithin(0, this.head, this.head + this.held);
      else next.set(this.buffer, 0);
      this.store = next;
      this.head = 0;
    }
    const at = this.head + this.held;
    this.store.fill(0, at, at + gap);
    this.store.set(data, at + gap);
    this.held = need;
  }

  /** Keeps only what the next batch's slice can start from. */
  private trim(): void {
    const keepFrom = this.keepFromSample();
    if (keepFrom > this.bufferStart) {
      const drop = Math.min(this.held, keepFrom - this.bufferStart);
      this.head += drop;
      this.held -= drop;
      this.bufferStart = keepFrom;
    }
  }
}

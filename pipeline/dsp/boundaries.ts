/**
 * Where a play can begin or end, from the client's own clear view of the audio (no encrypted cost): the
 * edges of silences and the bottoms of fades. The airplay log places a play's edges on these when the
 * catalogue decisions only bound them to a window.
 *
 * Frames of 50 ms; a silence is ≥ 0.25 s below −45 dBFS (its first and last frames are candidates); a
 * fade bottom is a frame whose 0.5 s loudness is ≥ 15 dB under the loudest 0.5 s within 4 s on both
 * sides and the lowest within ±1 s.
 */
const FRAME_SECONDS = 0.05;
const SILENCE_DBFS = -45;
const MIN_SILENCE_SECONDS = 0.25;
const FADE_DEPTH_DB = 15;

function frameDb(pcm: Float32Array, frame: number): Float64Array {
  const n = Math.floor(pcm.length / frame);
  const out = new Float64Array(n);
  for (let f = 0; f < n; f++) {
    let e = 0;
    for (let i = f * frame; i < (f + 1) * frame; i++) e += pcm[i] * pcm[i];
    out[f] = 10 * Math.log10(e / frame + 1e-12);
  }
  return out;
}

/** Candidate boundaries, in seconds from the start of `pcm`, sorted. */
export function boundaryCandidates(pcm: Float32Array, sampleRate: number): number[] {
  const frame = Math.max(1, Math.round(FRAME_SECONDS * sampleRate));
  const db = frameDb(pcm, frame);
  const out: number[] = [];
  // Silences.
  const minRun = Math.ceil(MIN_SILENCE_SECONDS / FRAME_SECONDS);
  for (let f = 0; f < db.length;) {
    if (db[f] >= SILENCE_DBFS) { f++; continue; }
    let g = f;
    while (g < db.length && db[g] < SILENCE_DBFS) g++;
    if (g - f >= minRun) {
      if (f > 0) out.push(f * FRAME_SECONDS);
      if (g < db.length) out.push(g * FRAME_SECONDS);
    }
    f = g;
  }
  // Fade bottoms (crossfades and cut-short plays fade without silence).
  const smooth = Math.round(0.5 / FRAME_SECONDS);
  const loud = new Float64Array(db.length);
  for (let f = 0; f < db.length; f++) {
    let s = 0;
    let n = 0;
    for (let k = Math.max(0, f - (smooth >> 1)); k < Math.min(db.length, f + (smooth >> 1) + 1); k++) { s += 10 ** (db[k] / 10); n++; }
    loud[f] = 10 * Math.log10(s / n + 1e-12);
  }
  const span = Math.round(4 / FRAME_SECONDS);
  const near = Math.round(1 / FRAME_SECONDS);
  for (let f = span; f < loud.length - span; f++) {
    if (loud[f] < SILENCE_DBFS) continue; // silences are counted above
    let isMin = true;
    for (let k = f - near; k <= f + near && isMin; k++) if (loud[k] < loud[f]) isMin = false;
    if (!isMin) continue;
    let before = -Infinity;
    let after = -Infinity;
    for (let k = f - span; k < f; k++) before = Math.max(before, loud[k]);
    for (let k = f + 1; k <= f + span; k++) after = Math.max(after, loud[k]);
    if (before - loud[f] >= FADE_DEPTH_DB && after - loud[f] >= FADE_DEPTH_DB) out.push(f * FRAME_SECONDS);
  }
  return [...new Set(out.map((t) => Math.round(t * 100) / 100))].sort((a, b) => a - b);
}

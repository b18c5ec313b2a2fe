/**
 * Ingest (client zone): keeps each station's source connected and turns it into audio records keyed by
 * the station's session. A station keeps its session (and keys) across restarts of the service until its
 * source ends: the session's sealed keys live on `client-sessions`, and how far a file got on
 * `ingest-progress`, so a restarted monitor resumes a file where it stopped and a live stream at the
 * present, marking the outage as a discontinuity.
 */
import { runStationSource, sourceKind } from '../../connectors/station-source.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { ClientSessionRecord, IngestProgress } from '../../schemas/messages.js';
import type { Station } from '../../schemas/stations.js';
import { BlindearError } from '../errors.js';
import { createSigner, importSigner, signSessionKeys, type ScoringClient, type ScoringClients, type SessionSigner } from '../he/client/index.js';
import { keyFingerprint } from '../he/key-signature.js';
import { newMacKey, type ServiceKey } from '../he/client/service-key.js';
import type { Clusters, Producers } from '../runtime/clusters.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import { sendOutputs } from '../runtime/run-stage.js';
import { StateTables } from '../runtime/state-tables.js';
import { macKeyContext, secretKeyContext, signingKeyContext } from '../stages/client-sessions.js';
import { audioChunkRecord } from '../stages/ingest.js';

export interface IngestOptions {
  clusters: Clusters;
  producers: Producers;
  manifest: CatalogManifest;
  /** Sessions of the catalogue's scheme (`openScoringClients`). */
  clients: ScoringClients;
  serviceKey: ServiceKey;
  sampleRate: number;
  logger: Logger;
  metrics: Metrics;
  pace: 'realtime' | 'fast';
  chunkSeconds: number;
  stallSeconds: number;
  maxBackoffSeconds: number;
  signal: AbortSignal;
  /** Producers the stations' audio is spread over (a station always uses the same one, so its chunks stay in order). */
  producerPool?: Producers[];
  /** Where a new session's window grid starts (ClientSessionRecord.windowPhaseSeconds); 0 when absent. */
  windowPhaseSeconds?(station: Station, index: number): number;
}

export interface StationRun {
  station: Station;
  session: string;
  /** Resolves when a file or stdin source has ended and its last chunk is sent; never for a URL. */
  ended: Promise<void>;
  /** Signs for the session (its evaluation keys and, at its end, their tombstone). */
  signer: SessionSigner;
}

const PROGRESS_EVERY_MS = 2000;

/** `sessionOf` fixes a station's session id (a one-source `stream --session`). */
export async function startIngest(stations: readonly Station[], opts: IngestOptions & { sessionOf?(station: Station): { session: string; signer?: SessionSigner } | undefined }): Promise<StationRun[]> {
  const tables = new StateTables(opts.clusters, ['clientSessions', 'ingestProgress', 'decideState'], opts.logger);
  await tables.restoreAll();
  const runs: StationRun[] = [];
  for (const [i, station] of stations.entries()) {
    const pool = opts.producerPool?.length ? opts.producerPool : [opts.producers];
    runs.push(await startStation(station, tables, { ...opts, producers: pool[i % pool.length] }, opts.sessionOf?.(station), opts.windowPhaseSeconds?.(station, i) ?? 0));
  }
  return runs;
}

async function startStation(station: Station, tables: StateTables, opts: IngestOptions, fixed: { session: string; signer?: SessionSigner } | undefined, windowPhaseSeconds: number): Promise<StationRun> {
  const fixedSession = fixed?.session;
  const { manifest, serviceKey, metrics, producers } = opts;
  const log = opts.logger.child({ station: station.id });
  const kind = sourceKind(station.source);
  const progress = tables.get('ingestProgress', station.id);
  // A session goes on until its last window is decided: a restart in the middle continues it (and a
  // source that was read to its end is not read again); a finished one makes way for a new session.
  const finished = progress ? tables.get('decideState', progress.session)?.ended === true : true;
  const resume = progress && !finished ? progress : undefined;
  // A new session's id ends in its signing key's fingerprint (`<station>.k<fingerprint>`): workers then
  // accept keys for it only when that key signs them, so nobody can claim the id first.
  let resumed = resume ? tables.get('clientSessions', resume.session) : undefined;
  if (resumed && resumed.keyId !== serviceKey.keyId) {
    // Sealed under another client key: it cannot be continued here; a new session takes over the station.
    log.error({ session: resumed.session, sealedWith: resumed.keyId, clientKey: serviceKey.keyId }, 'the station\'s session was sealed under another client key: starting a new session');
    resumed = undefined;
  }
  let record = fixedSession ? tables.get('clientSessions', fixedSession) : resumed;
  let client: ScoringClient;
  let signer: SessionSigner;
  let session: string;
  if (record) {
    const r = record;
    session = r.session;
    client = await opts.clients.restore(() => serviceKey.open(r.sealedSecretKey, secretKeyContext(session)));
    const pkcs8 = serviceKey.open(r.sealedSigningKey, signingKeyContext(session));
    signer = importSigner(pkcs8);
    pkcs8.fill(0);
    log.info({ session, resumeSeconds: (resume?.samples ?? 0) / opts.sampleRate }, 'session resumed');
  } else {
    signer = fixed?.signer ?? createSigner();
    session = fixedSession ?? `${station.id}.k${keyFingerprint(signer.publicKey)}`;
    client = await opts.clients.create();
    const mac = newMacKey();
    const pkcs8 = signer.exportPrivateKey();
    record = {
      session, station: station.id, modelId: manifest.modelId, paramsId: client.paramsId, keyId: serviceKey.keyId,
      sealedSecretKey: client.sealSecretKey((plain) => serviceKey.seal(plain, secretKeyContext(session))),
      sealedMacKey: serviceKey.seal(mac, macKeyContext(session)),
      sealedSigningKey: serviceKey.seal(pkcs8, signingKeyContext(session)),
      createdAtMs: Date.now(),
      windowPhaseSeconds,
    } satisfies ClientSessionRecord;
    mac.fill(0);
    pkcs8.fill(0);
    await sendOutputs(producers, [{ topic: 'clientSessions', key: session, envelope: record }]);
    log.info({ session, paramsId: client.paramsId }, 'session opened');
  }
  // The evaluation keys go (again) to the server zone, signed by the session: a scorer that lost them
  // gets them back, and only this session can replace or delete them.
  const material = client.publicMaterial();
  await sendOutputs(producers, [{
    topic: 'sessionKeys', key: session, value: material,
    envelope: signSessionKeys(signer, { session, paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: Date.now() }, material),
  }]);
  client.dispose();

  const createdAtMs = record.createdAtMs;
  const rate = opts.sampleRate;
  let position = kind === 'file' && resumed && record?.session === resumed.session ? resume?.samples ?? 0 : 0;
  let seq = Math.floor(position / Math.max(1, Math.round(opts.chunkSeconds * rate)));
  let lastProgress = 0;
  let first = true;
  let sentAudio = false;
  metrics.sourceConnected.set({ station: station.id }, 0);

  const send = async (p: { pcm: Float32Array; start: number; discontinuity: boolean; capturedAtMs: number }, final: boolean): Promise<void> => {
    const rec = audioChunkRecord({ session, seq: seq++, startSample: p.start, sampleRate: rate, pcm: p.pcm, final, capturedAtMs: p.capturedAtMs });
    rec.envelope.discontinuity = p.discontinuity;
    const out: Parameters<typeof sendOutputs>[1][number][] = [rec];
    const now = Date.now();
    if (final || now - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = now;
      const prog: IngestProgress = { session, station: station.id, samples: p.start + p.pcm.length, sampleRate: rate, ended: final, updatedAtMs: now };
      out.push({ topic: 'ingestProgress', key: station.id, envelope: prog });
    }
    await sendOutputs(producers, out);
  };

  if (resumed && resume?.ended) {
    log.info({ session }, 'source already read to its end: waiting for its last decisions');
    return { station, session, ended: Promise.resolve(), signer };
  }
  const ended = (async () => {
    const result = await runStationSource({
      source: station.source, sampleRate: rate, chunkSeconds: opts.chunkSeconds, pace: opts.pace,
      startSeconds: position / rate, stallSeconds: opts.stallSeconds, maxBackoffSeconds: opts.maxBackoffSeconds, signal: opts.signal,
    }, {
      connected() {
        metrics.sourceConnected.set({ station: station.id }, 1);
        log.info({ source: kind === 'url' ? station.source : kind }, 'source connected');
      },
      dropped(err, retryIn) {
        metrics.sourceConnected.set({ station: station.id }, 0);
        metrics.sourceReconnects.inc({ station: station.id });
        log.warn({ code: err.code, retryInSeconds: retryIn }, err.message);
      },
      async chunk(pcm, info) {
        const now = Date.now();
        // A resumed file goes on where it stopped (overlapping what was sent: windowing drops the overlap).
        let discontinuity = info.discontinuity;
        if (kind !== 'file' && (info.discontinuity || (first && resume !== undefined))) {
          // Live, after a drop or a restart: stream time is wall-clock time since the session opened, so
          // the outage is a gap in the stream, not a shift of what follows.
          const live = Math.round(((now - createdAtMs) / 1000) * rate) - pcm.length;
          if (live > position) { position = live; discontinuity = discontinuity || !first || live > 0; }
        }
        first = false;
        metrics.sourceLastAudio.set({ station: station.id }, now / 1000);
        metrics.audioSeconds.inc({ stage: 'ingest' }, pcm.length / rate);
        // Sent as soon as it is read: whether it was the last one is said by an empty final chunk after it,
        // so no chunk waits for the next one (a window's end would reach windowing a chunk later).
        await send({ pcm, start: position, discontinuity, capturedAtMs: now }, false);
        sentAudio = true;
        position += pcm.length;
      },
    });
    metrics.sourceConnected.set({ station: station.id }, 0);
    if (result === 'ended') {
      if (!sentAudio && position === 0) throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', `${station.id}: the source produced no audio`);
      await send({ pcm: new Float32Array(0), start: position, discontinuity: false, capturedAtMs: Date.now() }, true);
      log.info({ session, seconds: position / rate }, 'source ended');
    }
  })();
  return { station, session, ended, signer };
}

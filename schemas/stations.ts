/**
 * The stations file of `blindear monitor` (JSON or YAML): a list of stations, or `{ "stations": [...] }`.
 * Each station has an id (used in metrics, logs and the airplay log), a source (an http(s)/Icecast/HLS URL,
 * a file, or "-" for stdin) and any metadata of the user's, kept as given.
 */
import { z } from 'zod';

export const Station = z.looseObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'station ids are 1-64 chars of [A-Za-z0-9._-]'),
  source: z.string().min(1),
  name: z.string().optional(),
});
export type Station = z.infer<typeof Station>;

export const StationsFile = z
  .union([z.array(Station), z.object({ stations: z.array(Station) }).transform((o) => o.stations)])
  .pipe(z.array(Station).min(1, 'the stations file lists no station'))
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const s of list) {
      if (seen.has(s.id)) ctx.addIssue({ code: 'custom', message: `station id ${s.id} appears twice` });
      seen.add(s.id);
    }
    if (list.filter((s) => s.source === '-').length > 1) ctx.addIssue({ code: 'custom', message: 'only one station can read stdin' });
  });
export type StationsFile = z.infer<typeof StationsFile>;

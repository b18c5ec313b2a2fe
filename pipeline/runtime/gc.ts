/**
 * One full garbage collection now, without --expose-gc on the command line: for a process that has just
 * let go of GiBs (a catalogue's float model, its build copies) and would otherwise hold them while it
 * idles, until V8 next wants memory.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

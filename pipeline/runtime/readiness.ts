/**
 * Readiness for /readyz: named checks, each either a flag set by the code that knows (setReady,
 * set) or a probe asked at request time (register). Ready when there is at least one check and
 * every check passes. A probe that throws or takes longer than a second counts as not ready.
 */
export type Probe = () => boolean | Promise<boolean>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, boolean>;
}

const PROBE_TIMEOUT_MS = 1000;

export class Readiness {
  private readonly probes = new Map<string, Probe>();

  /** Adds (or replaces) a check asked on every /readyz request. */
  register(name: string, probe: Probe): void {
    this.probes.set(name, probe);
  }

  /** Sets a flag check: `set('producer', true)` once connected, `false` after a disconnect. */
  set(name: string, ok: boolean): void {
    this.probes.set(name, () => ok);
  }

  /** The whole process's flag, for code with a single notion of ready. */
  setReady(ok: boolean): void {
    this.set('process', ok);
  }

  async check(): Promise<ReadinessReport> {
    const checks: Record<string, boolean> = {};
    await Promise.all([...this.probes].map(async ([name, probe]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS); });
      try {
        checks[name] = (await Promise.race([Promise.resolve().then(probe), timeout])) === true;
      } catch {
        checks[name] = false;
      } finally {
        clearTimeout(timer);
      }
    }));
    const names = Object.keys(checks);
    return { ready: names.length > 0 && names.every((n) => checks[n]), checks };
  }
}

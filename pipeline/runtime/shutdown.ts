/** Resolves on the first SIGINT or SIGTERM, so a command can stop what it started in order. */
export function shutdownSignal(): { promise: Promise<string>; dispose(): void } {
  let resolve!: (s: string) => void;
  const promise = new Promise<string>((r) => { resolve = r; });
  const handler = (sig: NodeJS.Signals): void => resolve(sig);
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    promise,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

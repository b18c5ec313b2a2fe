/** Delivery sink: one JSON object per line to a file (appended) or to stdout. */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

export interface Sink<T> {
  write(record: T): Promise<void>;
  close(): Promise<void>;
}

export function createJsonlSink<T>(target: '-' | string | Writable): Sink<T> {
  const stream: Writable = target === '-' ? process.stdout : typeof target === 'string' ? createWriteStream(target, { flags: 'a' }) : target;
  const owned = typeof target === 'string' && target !== '-';
  return {
    write(record) {
      return new Promise((resolve, reject) => {
        stream.write(`${JSON.stringify(record)}\n`, (err) => (err ? reject(err) : resolve()));
      });
    },
    close() {
      if (!owned) return Promise.resolve();
      return new Promise((resolve) => stream.end(resolve));
    },
  };
}

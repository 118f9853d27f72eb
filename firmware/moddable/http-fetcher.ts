/**
 * The ChunkFetcher (firmware/core/update.ts) on Moddable's http Request: one GET with a Range
 * header per chunk, the whole (small) response read as an ArrayBuffer. An error, a status other
 * than 206/200 or a dropped connection answers an error; the Updater retries the same range.
 * http:// only: the image is signed, so TLS would add no trust, and its RAM is better kept.
 */
import { Request } from 'http';
import type { ChunkFetcher } from '../core/update.js';

const URL_PATTERN = /^http:\/\/([^/:]+)(?::(\d{1,5}))?(\/.*)$/;

export class HttpChunkFetcher implements ChunkFetcher {
  get(url: string, offset: number, length: number, done: (error: string | null, bytes: Uint8Array | null) => void): void {
    const m = URL_PATTERN.exec(url);
    if (!m) return done(`url: expected http://host[:port]/path, got ${url.slice(0, 80)}`, null);
    let answered = false;
    const finish = (error: string | null, bytes: Uint8Array | null) => {
      if (answered) return;
      answered = true;
      done(error, bytes);
    };
    let status = 0;
    const request = new Request({ host: m[1], port: m[2] ? Number(m[2]) : 80, path: m[3], headers: ['Range', `bytes=${offset}-${offset + length - 1}`], response: ArrayBuffer });
    request.callback = (message: number, value?: unknown) => {
      if (message === Request.status) status = Number(value);
      else if (message === Request.responseComplete) {
        if (status !== 206 && status !== 200) finish(`HTTP ${status}`, null);
        else finish(null, new Uint8Array(value as ArrayBuffer));
      } else if (message < 0) finish(`HTTP request failed (${message})`, null);
    };
  }
}

import type { FastifyInstance } from 'fastify';
import type { Feature, FeatureDeps } from '../feature.js';

/** Ratings committed per window since the hub started, from the bus: GET /api/app/window-tally. */
export class WindowTally implements Feature {
  readonly name = 'window-tally';
  private readonly counts = new Map<string, number>();

  constructor(private readonly deps: FeatureDeps) {}

  start(): void {
    this.deps.bus.on('ratingCommitted', this.name, ({ win }) => {
      const key = win ?? '(phone)';
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    });
  }

  stop(): void {
    this.deps.bus.off(this.name);
  }

  tally(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  routes(app: FastifyInstance): void {
    app.get('/api/app/window-tally', { onRequest: this.deps.auth.requireRole('supervisor') }, async () => ({ windows: this.tally() }));
  }
}

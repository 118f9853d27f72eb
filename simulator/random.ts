/**
 * Seeded randomness for the simulated hall. Each concern (arrivals, one window's staff, one
 * citizen's rating) draws from its own stream derived from (seed, label), so a fault injected
 * into one device or an extra window does not shift the choices of every other one, and the
 * same seed gives the same hall.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state),
 * seeded through a 32-bit FNV-1a hash of the label.
 */

function fnv1a(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, label = '') {
    this.a = fnv1a(label, 0x811c9dc5 ^ seed);
    this.b = fnv1a(label, 0x9e3779b9 ^ seed);
    this.c = fnv1a(label, 0x85ebca6b ^ seed);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next(); // mix the seed in
  }

  /** A child stream for a sub-concern, independent of how much this one has been used. */
  static stream(seed: number, label: string): Random {
    return new Random(seed, label);
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given mean and standard deviation (of the variable itself). */
  lognormal(mean: number, sd: number): number {
    if (sd <= 0) return mean;
    const sigma2 = Math.log(1 + (sd * sd) / (mean * mean));
    const mu = Math.log(mean) - sigma2 / 2;
    return Math.exp(mu + Math.sqrt(sigma2) * this.normal());
  }

  /** Picks a key by relative weight; undefined when every weight is 0. */
  weighted<K extends string>(weights: Record<K, number>): K | undefined {
    const keys = Object.keys(weights) as K[];
    keys.sort(); // key order of a parsed file must not matter
    let total = 0;
    for (const k of keys) total += Math.max(0, weights[k]);
    if (!(total > 0)) return undefined;
    let x = this.next() * total;
    for (const k of keys) {
      x -= Math.max(0, weights[k]);
      if (x < 0) return k;
    }
    return keys[keys.length - 1];
  }
}

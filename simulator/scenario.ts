/**
 * Scenario files: one simulated hall in JSON, validated against simulator/scenario.schema.json
 * (a description and a default for every key) and then cross-checked (a window's items exist,
 * ids are unique). Every problem names its key path and what is expected:
 *   scenario.json: windows[2].items[0]: unknown service item "passport"; expected one of marriage, pension
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import type { BadRatingReason, RatingLevel } from '../firmware/core/protocol.js';

export type TimeMode = 'real' | 'accelerated' | 'virtual';
export type FaultKind = 'powerCut' | 'wifiDrop' | 'brokerRestart' | 'hubKill' | 'clockSkew' | 'keyBounce' | 'stuckKey' | 'flashFull' | 'wrongKey';
export const FAULT_KINDS: readonly FaultKind[] = ['powerCut', 'wifiDrop', 'brokerRestart', 'hubKill', 'clockSkew', 'keyBounce', 'stuckKey', 'flashFull', 'wrongKey'];

export interface FaultSpec {
  at: number; // seconds after start
  kind: FaultKind;
  device: string;
  duration: number; // seconds
  hours: number;
  key: number;
}

export interface WindowSpec { id: string; name: string; items: string[]; staff: string; pad: string; display: string }

export interface Scenario {
  name: string;
  site: string;
  hall: string;
  seed: number;
  start: string;
  duration: number; // seconds
  drain: number; // seconds
  time: { mode: TimeMode; factor: number; tick: number; quiet: number };
  departments: { id: string; name: string }[];
  items: { id: string; name: string; dept: string; prefix: string; share: number; serviceMean: number }[];
  staff: { id: string; name: string; dept: string }[];
  windows: WindowSpec[];
  arrivals: { perHour: number | number[] };
  service: { distribution: 'lognormal' | 'exponential' | 'fixed'; mean: number; sd: number; min: number; walk: number };
  ratings: { levels: Record<`${RatingLevel}`, number>; reasons: Record<BadRatingReason, number>; skip: number; delay: number };
  behaviour: {
    recall: number; noShow: number; recallAfter: number; noShowAfter: number; transfer: number;
    pausePerHour: number; pauseMinutes: number; idlePoll: number;
  };
  devices: { fw: string; rateTimeout: number; unsolicited: 'ignore' | 'bind'; outboxBytes: number; keyHold: number };
  faults: FaultSpec[];
}

export class ScenarioError extends Error {
  constructor(readonly problems: string[], readonly source = 'scenario') {
    super(problems.map((p) => `${source}: ${p}`).join('\n'));
    this.name = 'ScenarioError';
  }
}

export const SCENARIO_SCHEMA_FILE = fileURLToPath(new URL('./scenario.schema.json', import.meta.url));
let schemaCache: Record<string, unknown> | undefined;
export function scenarioSchema(): Record<string, unknown> {
  schemaCache ??= JSON.parse(readFileSync(SCENARIO_SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
  return schemaCache;
}

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(raw: unknown): ErrorObject[] {
  if (!validator) {
    const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true, strictTypes: false });
    validator = ajv.compile(scenarioSchema());
  }
  return validator(raw) ? [] : [...(validator.errors ?? [])];
}

/** /windows/2/items/0 -> windows[2].items[0] */
function keyPath(pointer: string, extra?: string): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(name) ? `[${name}]` : (out ? '.' : '') + name;
  }
  if (extra !== undefined) out += (out ? '.' : '') + extra;
  return out || '(root)';
}

function describe(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'maximum': return `must be ≤ ${p.limit}`;
    case 'minimum': return `must be ≥ ${p.limit}`;
    case 'exclusiveMinimum': return `must be > ${p.limit}`;
    case 'type': return `expected ${p.type === 'integer' ? 'an integer' : p.type === 'object' ? 'an object' : p.type === 'array' ? 'a list' : `a ${p.type}`}`;
    case 'enum': return `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'additionalProperties': return 'unknown key';
    case 'required': return 'missing (required)';
    case 'pattern': return `expected text matching ${p.pattern}`;
    case 'minItems': return `expected at least ${p.limit} entries`;
    case 'maxItems': return `expected at most ${p.limit} entries`;
    case 'maxLength': return `expected at most ${p.limit} characters`;
    case 'anyOf': return 'expected a number ≥ 0 or a list of numbers ≥ 0';
    default: return error.message ?? error.keyword;
  }
}

function schemaProblems(errors: ErrorObject[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  // anyOf reports each branch too; keep the summary only.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && [...anyOfPaths].some((p) => error.instancePath === p || error.instancePath.startsWith(p + '/'))) continue;
    let key: string;
    if (error.keyword === 'additionalProperties') key = keyPath(error.instancePath, (error.params as { additionalProperty: string }).additionalProperty);
    else if (error.keyword === 'required') key = keyPath(error.instancePath, (error.params as { missingProperty: string }).missingProperty);
    else key = keyPath(error.instancePath);
    const line = `${key}: ${describe(error)}`;
    if (!seen.has(line)) { seen.add(line); out.push(line); }
  }
  return out;
}

/** Cross-references the schema cannot express. Fills derived defaults (names, device ids, staff). */
function crossCheck(s: Scenario): string[] {
  const problems: string[] = [];
  const unique = (list: { id: string }[], where: string) => {
    const seen = new Map<string, number>();
    list.forEach((entry, i) => {
      if (seen.has(entry.id)) problems.push(`${where}[${i}].id: "${entry.id}" is already used by ${where}[${seen.get(entry.id)}]`);
      else seen.set(entry.id, i);
    });
  };
  unique(s.departments, 'departments');
  unique(s.items, 'items');
  unique(s.staff, 'staff');
  unique(s.windows, 'windows');
  const depts = new Set(s.departments.map((d) => d.id));
  const items = new Set(s.items.map((i) => i.id));
  const staff = new Set(s.staff.map((m) => m.id));
  s.items.forEach((item, i) => {
    if (!depts.has(item.dept)) problems.push(`items[${i}].dept: unknown department "${item.dept}"; expected one of ${[...depts].join(', ')}`);
  });
  s.staff.forEach((m, i) => {
    if (m.dept && !depts.has(m.dept)) problems.push(`staff[${i}].dept: unknown department "${m.dept}"; expected one of ${[...depts].join(', ')}`);
  });
  if (!s.items.some((item) => item.share > 0)) problems.push('items: expected at least one item with share > 0');
  const devices = new Map<string, string>();
  const usedStaff = new Map<string, number>();
  s.windows.forEach((w, i) => {
    w.items.forEach((id, k) => {
      if (!items.has(id)) problems.push(`windows[${i}].items[${k}]: unknown service item "${id}"; expected one of ${[...items].join(', ')}`);
    });
    if (w.staff) {
      if (!staff.has(w.staff)) problems.push(`windows[${i}].staff: unknown staff member "${w.staff}"; expected one of ${[...staff].join(', ') || '(none listed in staff)'}`);
      else if (usedStaff.has(w.staff)) problems.push(`windows[${i}].staff: "${w.staff}" already works at windows[${usedStaff.get(w.staff)}]`);
      else usedStaff.set(w.staff, i);
    }
    w.name ||= w.id;
    w.pad ||= `${w.id}-pad`;
    w.display ||= `${w.id}-dsp`;
    for (const key of ['pad', 'display'] as const) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(w[key])) problems.push(`windows[${i}].${key}: expected a device id of 1–32 letters, digits, _ or -`);
      else if (devices.has(w[key])) problems.push(`windows[${i}].${key}: device "${w[key]}" is already ${devices.get(w[key])}`);
      else devices.set(w[key], `windows[${i}].${key}`);
    }
  });
  for (const item of s.items) {
    if (item.share > 0 && !s.windows.some((w) => w.items.includes(item.id))) {
      problems.push(`items: "${item.id}" has share ${item.share} but no window serves it; add it to a window's items or set its share to 0`);
    }
  }
  // Windows without staff get a generated member, so every window can sign someone in.
  for (const w of s.windows) {
    if (!w.staff) {
      const id = `s-${w.id}`.slice(0, 32);
      if (!staff.has(id)) { s.staff.push({ id, name: `${w.name}工作人员`, dept: '' }); staff.add(id); }
      w.staff = id;
    }
  }
  for (const d of s.departments) d.name ||= d.id;
  for (const item of s.items) item.name ||= item.id;
  const levels = Object.values(s.ratings.levels).reduce((a, b) => a + b, 0);
  if (!(levels > 0)) problems.push('ratings.levels: expected at least one level with a share > 0');
  const reasons = Object.values(s.ratings.reasons).reduce((a, b) => a + b, 0);
  if (!(reasons > 0)) problems.push('ratings.reasons: expected at least one reason with a share > 0');
  if (Number.isNaN(Date.parse(s.start))) problems.push(`start: "${s.start}" is not a valid date and time`);
  s.faults.forEach((f, i) => {
    if (f.device !== '*' && !devices.has(f.device) && !s.windows.some((w) => w.id === f.device) && f.kind !== 'brokerRestart' && f.kind !== 'hubKill') {
      problems.push(`faults[${i}].device: unknown device or window "${f.device}"; expected a device id, a window id or *`);
    }
  });
  return problems;
}

/** Validates a parsed scenario (defaults filled in place of a copy); throws ScenarioError. */
export function parseScenario(input: unknown, source = 'scenario'): Scenario {
  const raw = input === undefined ? {} : structuredClone(input);
  const errors = validate(raw);
  if (errors.length) throw new ScenarioError(schemaProblems(errors), source);
  const scenario = raw as Scenario;
  const problems = crossCheck(scenario);
  if (problems.length) throw new ScenarioError(problems, source);
  return scenario;
}

/** Reads and validates a scenario file; errors name the file and the key. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ScenarioError([code === 'ENOENT' ? 'file not found; expected a scenario JSON file (see scenarios/demo-hall.json)' : `cannot read: ${(error as Error).message}`], file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError([`not JSON (${(error as Error).message})`], file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ScenarioError(['(root): expected a JSON object'], file);
  return parseScenario(parsed, file);
}

/** Simulated start time in ms since the epoch. */
export function scenarioStart(s: Scenario): number {
  return Date.parse(s.start);
}

/** Every device of the hall with its window and role. */
export function scenarioDevices(s: Scenario): { id: string; role: 'pad' | 'display'; win: string }[] {
  const out: { id: string; role: 'pad' | 'display'; win: string }[] = [];
  for (const w of s.windows) {
    out.push({ id: w.display, role: 'display', win: w.id });
    out.push({ id: w.pad, role: 'pad', win: w.id });
  }
  return out;
}

import { mkdtempSync, writeFileSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadScenario, parseScenario, scenarioSchema, ScenarioError } from '../../simulator/scenario.js';

function problemsOf(input: unknown): string[] {
  try {
    parseScenario(input, 'test.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ScenarioError);
    return (error as ScenarioError).problems;
  }
  throw new Error('expected the scenario to be refused');
}

describe('scenario schema', () => {
  test('every key has a description, and every key that is not a required id has a default', () => {
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, where: string, required: string[]) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [name, child] of Object.entries(props ?? {})) {
        const key = where ? `${where}.${name}` : name;
        if (typeof child.description !== 'string' || child.description.length < 5) missing.push(`${key}: description`);
        if (!('default' in child) && !required.includes(name)) missing.push(`${key}: default`);
        if (child.type === 'object') walk(child, key, (child.required as string[]) ?? []);
        const items = child.items as Record<string, unknown> | undefined;
        if (child.type === 'array' && items?.type === 'object') walk(items, `${key}[]`, (items.required as string[]) ?? []);
      }
    };
    walk(scenarioSchema(), '', []);
    expect(missing).toEqual([]);
  });

  test('an empty scenario is a small working hall with defaults filled in', () => {
    const s = parseScenario({});
    expect(s.windows.map((w) => w.id)).toEqual(['W01', 'W02', 'W03']);
    expect(s.windows[0].pad).toBe('W01-pad');
    expect(s.windows[0].display).toBe('W01-dsp');
    expect(s.windows[0].staff).toBe('s-W01');
    expect(s.time.mode).toBe('virtual');
    expect(s.ratings.levels['5']).toBe(70);
  });

  test('an unknown key is named with its path', () => {
    expect(problemsOf({ time: { mode: 'virtual', speed: 3 } })).toEqual(['time.speed: unknown key']);
    expect(problemsOf({ windows: [{ id: 'W1', items: ['marriage'], colour: 'red' }] })).toEqual(['windows[0].colour: unknown key']);
  });

  test('a bad value names the key and what is expected', () => {
    expect(problemsOf({ time: { mode: 'fast' } })).toEqual(['time.mode: expected one of "real", "accelerated", "virtual"']);
    expect(problemsOf({ seed: -1 })).toEqual(['seed: must be ≥ 0']);
    expect(problemsOf({ arrivals: { perHour: 'many' } })).toEqual(['arrivals.perHour: expected a number ≥ 0 or a list of numbers ≥ 0']);
    expect(problemsOf({ windows: [{ items: ['marriage'] }] })).toEqual(['windows[0].id: missing (required)']);
  });

  test('cross-references name the entry that points nowhere', () => {
    expect(problemsOf({ windows: [{ id: 'W1', items: ['marriage', 'passport'] }, { id: 'W2', items: ['pension'] }] }))
      .toEqual(['windows[0].items[1]: unknown service item "passport"; expected one of marriage, pension']);
    expect(problemsOf({ windows: [{ id: 'W1', items: ['marriage', 'pension'] }, { id: 'W1', items: ['pension'] }] }))
      .toContain('windows[1].id: "W1" is already used by windows[0]');
    expect(problemsOf({ faults: [{ at: 10, kind: 'powerCut', device: 'nowhere' }] }))
      .toEqual(['faults[0].device: unknown device or window "nowhere"; expected a device id, a window id or *']);
  });

  test('a missing file and a file that is not JSON are named', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sannuo-scn-'));
    try {
      expect(() => loadScenario(path.join(dir, 'none.json'))).toThrow(/none\.json: file not found/);
      writeFileSync(path.join(dir, 'bad.json'), '{ "seed": 1,');
      expect(() => loadScenario(path.join(dir, 'bad.json'))).toThrow(/bad\.json: not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the example scenarios in scenarios/ are valid', () => {
    const dir = path.join(__dirname, '../../scenarios');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).toEqual(expect.arrayContaining(['demo-hall.json', 'test-hall-12.json']));
    for (const f of files) {
      const s = loadScenario(path.join(dir, f));
      expect(s.windows.length).toBeGreaterThan(0);
      expect(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))).toBeTruthy();
    }
  });
});

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_DEFAULTS, DEVICE_CONFIG_KEYS, deviceDomain, parseDeviceConfig, type ConfigError, type DeviceConfig } from '../../../firmware/core/config.js';

const base = { id: 'pad-1', role: 'pad', site: 'hall1', win: 'W01', secret: 'ab'.repeat(32) };

test('defaults fill what provisioning leaves out', () => {
  const config = parseDeviceConfig(base) as DeviceConfig;
  expect(config.rateTimeout).toBe(CONFIG_DEFAULTS.rateTimeout);
  expect(config.broker).toEqual(CONFIG_DEFAULTS.broker);
  expect(config.transferTargets).toEqual([]);
});

test('every problem is named by its key', () => {
  const errors = parseDeviceConfig({ ...base, role: 'toaster', secret: 'xyz', broker: { port: 70000, colour: 'red' }, keyPins: [1, 2], volume: 11, wat: 1 }) as ConfigError[];
  const keys = errors.map((e) => e.key).sort();
  expect(keys).toEqual(['broker.colour', 'broker.port', 'keyPins', 'role', 'secret', 'volume', 'wat'].sort());
  expect(errors.find((e) => e.key === 'broker.port')!.message).toBe('expected a port 1–65535');
  expect(errors.find((e) => e.key === 'wat')!.message).toBe('unknown setting');
});

test('transfer targets: exactly one of window or item, with a label', () => {
  const good = parseDeviceConfig({ ...base, role: 'display', transferTargets: [{ toWin: 'W02', toItem: null, label: '2号窗口' }, { toWin: null, toItem: 'SB01', label: '社保' }] });
  expect(Array.isArray(good)).toBe(false);
  const bad = parseDeviceConfig({ ...base, transferTargets: [{ toWin: 'W02', toItem: 'SB01', label: 'x' }, { toWin: null, toItem: null, label: 'y' }, { toWin: 'W03', toItem: null, label: '' }] }) as ConfigError[];
  expect(bad.map((e) => e.key)).toEqual(['transferTargets[0]', 'transferTargets[1]', 'transferTargets[2]']);
});

test('not an object', () => {
  expect(parseDeviceConfig('pad')).toEqual([{ key: '(root)', message: 'expected an object' }]);
});

test('a board reads every key of a device config from its manifest (transferTargets was dropped once: issue 16, defect 2)', () => {
  const parsed = parseDeviceConfig({ id: 'disp-1', role: 'display', site: 's', win: 'W1', secret: 'ab'.repeat(32), transferTargets: [{ toWin: 'W2', toItem: null, label: '二号窗口' }] }) as DeviceConfig;
  expect([...DEVICE_CONFIG_KEYS].sort()).toEqual(Object.keys(parsed).sort());
  expect(parsed.transferTargets).toHaveLength(1);
  // The Moddable board's reader (firmware/moddable/config.ts, which needs mcconfig to run) takes its keys from that list, not a copy of its own.
  const source = readFileSync(path.join(__dirname, '../../../firmware/moddable/config.ts'), 'utf8');
  expect(source).toMatch(/for \(const key of DEVICE_CONFIG_KEYS\)/);
  expect(source).not.toMatch(/'keyPins', 'rateTimeout'/);
});

test('devices sharing one machine (lin) get Preference domains of their own, within Moddable\'s 15 characters (issue 16, defect 7)', () => {
  const ids = ['sim-pad-1', 'sim-pad-2', 'sim-display-1', 'W01-pad', 'x'.repeat(32)];
  const domains = ids.map((id) => deviceDomain('sannuo', id));
  expect(new Set(domains).size).toBe(ids.length);
  for (const d of [...domains, deviceDomain('snkeep', 'sim-pad-1')]) expect(d.length).toBeLessThanOrEqual(15);
  expect(deviceDomain('sannuo', 'sim-pad-1')).toBe(deviceDomain('sannuo', 'sim-pad-1'));
  expect(() => deviceDomain('sannuo-keep', 'a')).toThrow(/longer than 6/);
  // The lin build asks for it; the board reader names settings, kept state and flash folder from the id.
  const manifest = JSON.parse(readFileSync(path.join(__dirname, '../../../manifest.json'), 'utf8'));
  expect(manifest.platforms.lin.config.sannuo.perDeviceState).toBe(true);
  expect(manifest.config.sannuo.perDeviceState).toBeUndefined(); // esp32: one device per chip, names unchanged across updates
  const source = readFileSync(path.join(__dirname, '../../../firmware/moddable/config.ts'), 'utf8');
  expect(source).toMatch(/useSettingsDomain\(deviceDomain\('sannuo', manifestId!\)\)/);
  expect(source).toMatch(/perDevice \? `\$\{parsed\.id\}\/` : ''/);
});

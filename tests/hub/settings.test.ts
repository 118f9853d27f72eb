import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSettings, settingKeys, envName, settingsSchema, SettingsError } from '../../hub/settings.js';

test('defaults for every key, and every key has a default and a description', () => {
  const s = loadSettings({ env: {} });
  expect(s).toMatchObject({ site: 'site1', data: './data', db: 'sqlite', broker: 'embedded', mqtt: { port: 1883 }, http: { port: 8080 } });
  for (const [key, node] of settingKeys()) {
    expect({ key, hasDefault: node.default !== undefined, hasDescription: typeof node.description === 'string' && node.description.length > 10 })
      .toEqual({ key, hasDefault: true, hasDescription: true });
  }
  for (const node of Object.values(settingsSchema().properties!)) expect(node.description).toBeTruthy();
});

test('SANNUO_ environment overrides, typed by the schema', () => {
  const s = loadSettings({ env: { SANNUO_DATA: '/var/lib/sannuo', SANNUO_MQTT_PORT: '11883', SANNUO_HTTP_PORT: '9000', SANNUO_DB: 'postgres://u:p@db/sannuo', SANNUO_BROKER: 'mqtt://h:pw@broker:1883', SANNUO_SITE: 'hz-01', SANNUO_LOG_PRETTY: 'true', SANNUO_INGEST_BATCH_WINDOW: '2' } });
  expect(s).toMatchObject({ data: '/var/lib/sannuo', db: 'postgres://u:p@db/sannuo', broker: 'mqtt://h:pw@broker:1883', site: 'hz-01', mqtt: { port: 11883 }, http: { port: 9000 }, log: { pretty: true }, ingest: { batchWindow: 2 } });
  expect(envName('mqtt.advertisedHost')).toBe('SANNUO_MQTT_ADVERTISED_HOST');
});

test('errors name the key, what is wrong and where it came from', () => {
  expect(() => loadSettings({ env: { SANNUO_MQTT_PORT: '99999' } })).toThrow('settings: mqtt.port: must be ≤ 65535 (from SANNUO_MQTT_PORT)');
  expect(() => loadSettings({ env: { SANNUO_HTTP_PORT: 'eighty' } })).toThrow('settings: http.port: must be an integer (from SANNUO_HTTP_PORT)');
  expect(() => loadSettings({ env: { SANNUO_DB: 'mysql://x' } })).toThrow(/settings: db: must match .* \(from SANNUO_DB\)/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-settings-'));
  const file = path.join(dir, 'hub.json');
  fs.writeFileSync(file, JSON.stringify({ mqtt: { prot: 1 }, log: { level: 'loud' } }));
  try {
    loadSettings({ env: {}, file });
    throw new Error('no error');
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).problems).toEqual(expect.arrayContaining([
      `mqtt.prot: unknown setting "prot" (from ${file})`,
      `log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" (from ${file})`,
    ]));
  }
  fs.writeFileSync(file, '{ not json');
  expect(() => loadSettings({ env: {}, file })).toThrow(/hub\.json: not JSON/);
  expect(() => loadSettings({ env: { SANNUO_CONFIG: path.join(dir, 'missing.json') } })).toThrow(/cannot read settings file/);
  fs.rmSync(dir, { recursive: true });
});

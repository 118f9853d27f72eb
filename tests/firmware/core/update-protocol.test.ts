/** The wire parts of over-the-air updates: the signed update command, the state's upd progress, the config's releaseKey. */

import { nodeHmac } from '../../../hub/devices/registry.js';
import { decodeCommand, decodeState, deriveSigningKey, encodeCommand, encodeState, isProtocolError, topicFor, type DeviceState } from '../../../firmware/core/protocol.js';
import { Device } from '../../../firmware/core/device.js';
import { createSimHardware, hmacSha256 } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';
import { parseDeviceConfig } from '../../../firmware/core/config.js';
import { fromHex, utf8Encode } from '../../../firmware/core/utf8.js';

const key = new Uint8Array(32).fill(3);
const body = { version: '0.2.0', url: 'http://192.168.1.10:8080/ota/images/0.2.0.bin', size: 912_384, sha256: 'ab'.repeat(32), sig: 'cd'.repeat(64) };
const state: DeviceState = { v: 1, dev: 'pad-1', online: true, role: 'pad', win: 'W1', fw: '0.1.0', bat: -1, rssi: -60, heap: null, up: 12, outbox: 0, t: 1 };

test('an update command round-trips, signed, in its canonical order; another key refuses it', () => {
  const line = encodeCommand({ v: 1, dev: 'pad-1', t: 5, type: 'update', body }, key, nodeHmac);
  expect(isProtocolError(line)).toBe(false);
  expect(line).toContain('"body":{"version":"0.2.0","url":"http://192.168.1.10:8080/ota/images/0.2.0.bin","size":912384,"sha256":"');
  expect(decodeCommand(utf8Encode(line as string), 'pad-1', key, nodeHmac)).toEqual({ v: 1, dev: 'pad-1', t: 5, type: 'update', body });
  expect(decodeCommand(utf8Encode(line as string), 'pad-1', new Uint8Array(32).fill(4), nodeHmac)).toMatchObject({ code: 'bad-signature' });
  expect(encodeCommand({ v: 1, dev: 'pad-1', t: 5, type: 'update', body: { ...body, size: 1.5 } }, key, nodeHmac)).toMatchObject({ code: 'bad-field', message: expect.stringContaining('size') });
});

test('the state carries upd only while an update is under way, and a bad one is refused by field', () => {
  expect(encodeState(state)).not.toContain('upd');
  expect(decodeState(utf8Encode(encodeState(state)), 'pad-1')).toEqual(state);
  const withUpd: DeviceState = { ...state, upd: { v: '0.2.0', phase: 'downloading', got: 4096, size: 912_384, err: null } };
  const text = encodeState(withUpd);
  expect(text.endsWith(',"upd":{"v":"0.2.0","phase":"downloading","got":4096,"size":912384,"err":null}}')).toBe(true);
  expect(decodeState(utf8Encode(text), 'pad-1')).toEqual(withUpd);
  expect(decodeState(utf8Encode(text.replace('downloading', 'dancing')), 'pad-1')).toMatchObject({ code: 'bad-field', message: 'state.upd.phase: expected one of downloading, verifying, switching, failed' });
  expect(decodeState(utf8Encode(text.replace('"got":4096', '"got":"lots"')), 'pad-1')).toMatchObject({ code: 'bad-field', message: 'state.upd.got: expected an integer' });
});

test('releaseKey is null or an ed25519 public key in hex', () => {
  const base = { id: 'pad-1', role: 'pad', site: 'site1', win: 'W1', secret: '00'.repeat(32) };
  expect(parseDeviceConfig(base)).toMatchObject({ releaseKey: null });
  expect(parseDeviceConfig({ ...base, releaseKey: 'ef'.repeat(32) })).toMatchObject({ releaseKey: 'ef'.repeat(32) });
  expect(parseDeviceConfig({ ...base, releaseKey: 'EF'.repeat(32) })).toEqual([{ key: 'releaseKey', message: 'expected null or 64 lowercase hex digits (an ed25519 public key)' }]);
});

test('a device without an updater refuses a signed update command by reason, and its state says nothing of one', () => {
  const cfg = parseDeviceConfig({ id: 'pad-u', role: 'pad', site: 'site1', win: 'W1', secret: '5a'.repeat(32) });
  if (Array.isArray(cfg)) throw new Error(JSON.stringify(cfg));
  const time = new VirtualTime();
  const hw = createSimHardware({ time });
  const states: string[] = [];
  hw.transport.handler = (topic, payload) => { if (topic.endsWith('/state')) states.push(payload); };
  const device = new Device(cfg, hw);
  device.start();
  hw.transport.link = true;
  device.onConnected();
  const line = encodeCommand({ v: 1, dev: 'pad-u', t: time.now(), type: 'update', body }, deriveSigningKey(fromHex('5a'.repeat(32))!, hmacSha256), hmacSha256);
  device.onMessage(topicFor('site1', 'pad-u', 'cmd'), utf8Encode(line as string));
  expect(device.rejections).toEqual({ 'no-updater': 1 });
  expect(device.updater).toBeUndefined();
  expect(states.every((s) => !s.includes('"upd"'))).toBe(true);
  device.stop();
});

/** The LED strip adapter: each announcement as one documented UDP frame, received by a real UDP socket. */

import dgram from 'node:dgram';
import iconv from 'iconv-lite';
import { UdpLed, ledFrame } from '../../../hub/front/led.js';

test('a frame: magic, version, sequence, window id, GB18030 text; sent over UDP', async () => {
  const sink = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', () => resolve()));
  const got: Buffer[] = [];
  sink.on('message', (m) => got.push(m));
  const led = new UdpLed('127.0.0.1', sink.address().port);
  led.show({ win: 'W3', number: 'A042', text: '请A零四二号到三号窗口办理' });
  led.show({ win: 'W12', number: 'B001', text: '请B零零一号到十二号窗口办理' });
  const deadline = Date.now() + 2000;
  while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  led.close();
  sink.close();
  expect(got).toHaveLength(2);
  const f = got[0];
  expect(f.toString('ascii', 0, 2)).toBe('SN');
  expect(f[2]).toBe(1);
  expect(f.readUInt16BE(3)).toBe(0);
  expect(f.toString('ascii', 6, 6 + f[5])).toBe('W3');
  const t = f.readUInt16BE(6 + f[5]);
  expect(iconv.decode(f.subarray(8 + f[5], 8 + f[5] + t), 'gb18030')).toBe('请A零四二号到三号窗口办理');
  expect(got[1].readUInt16BE(3)).toBe(1);
  expect(ledFrame(65536, 'W1', '').readUInt16BE(3)).toBe(0);
});

/**
 * One rule set for remote settings (firmware/core/config.ts REMOTE_SETTINGS): the config
 * command's keys, provisioning, the hub's config push check and the CLI's key=value all refuse
 * the same values with the rule's message.
 */

import { REMOTE_SETTINGS, REMOTE_SETTING_KEYS, checkRemoteSetting, parseDeviceConfig, type ConfigError } from '../../firmware/core/config.js';
import { COMMAND_SCHEMAS } from '../../firmware/core/protocol.js';
import { checkConfigChange } from '../../hub/http/server.js';
import { parseConfigPairs } from '../../cli/sannuo.js';

const device = { id: 'pad-1', role: 'pad', site: 'hall1', win: 'W01', secret: 'ab'.repeat(32) };
const bad = { rateTimeout: 100, unsolicited: 'sometimes', volume: 11, idleText: 'x'.repeat(101) } as const;

test('the keys are the config command\'s, in its order', () => {
  expect([...REMOTE_SETTING_KEYS]).toEqual(COMMAND_SCHEMAS.config.map(([key]) => key));
  expect(Object.keys(REMOTE_SETTINGS)).toEqual([...REMOTE_SETTING_KEYS]);
});

test.each(REMOTE_SETTING_KEYS)('%s: provisioning, the hub and the CLI refuse the same value with the rule\'s message', (key) => {
  const rule = REMOTE_SETTINGS[key];
  expect(checkRemoteSetting(key, bad[key])).toBe(rule.message);
  const provisioned = parseDeviceConfig({ ...device, [key]: bad[key] }) as ConfigError[];
  expect(provisioned).toEqual([{ key, message: rule.message }]);
  expect(checkConfigChange({ [key]: bad[key] }, device)).toEqual([`body.${key}: ${rule.message}`]);
  expect(() => parseConfigPairs([`${key}=${bad[key]}`])).toThrow(`${key}: ${rule.textMessage ?? rule.message}`);
});

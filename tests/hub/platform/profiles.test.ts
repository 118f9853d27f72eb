/**
 * The platforms' code tables, pinned: a changed table would send every rating with the wrong
 * satisfaction. GB/T 39046-2020 A.8 counts from the best (1 = 非常满意); a provincial interface
 * that counts stars from the worst (1 = 非常不满意). And the §6.6 fields a record becomes.
 */

import { PROFILES, toPlatform, platformTime, csvLine, csvHeader, type RatingExport } from '../../../hub/platform/record.js';

const rating = (level: number, extra: Partial<RatingExport> = {}): RatingExport => ({
  kind: 'rating', id: 'pad-1:1:7', caseNo: 'BJ2027-001', ticket: '20270205-A001', channel: 'pad', t: Date.parse('2027-02-05T09:30:15+08:00'),
  times: 1, level, reason: level <= 2 ? 'slow' : null, item: 'I1', department: 'D1', win: 'W1', staff: 's1', ...extra,
});
const site = { region: '440106', departments: { D1: '11440106MB2C12345X' } };

test('national profile: GB/T 39046-2020 A.8, 1 = 非常满意', () => {
  expect(PROFILES.national.levels).toEqual({ 5: '1', 4: '2', 3: '3', 2: '4', 1: '5' });
  expect(PROFILES.national.channels).toEqual({ pad: '4', phone: '3', default: '5' });
});

test('stars profile: a provincial interface with 1 = 非常不满意', () => {
  expect(PROFILES.stars.levels).toEqual({ 1: '1', 2: '2', 3: '3', 4: '4', 5: '5' });
});

test('every level maps to a distinct code in every profile, named by its level', () => {
  for (const p of Object.values(PROFILES)) {
    expect(new Set(Object.values(p.levels)).size).toBe(5);
    const names = [5, 4, 3, 2, 1].map((l) => toPlatform(rating(l), p, site, 480).satisfaction);
    expect(names).toEqual(['非常满意', '满意', '基本满意', '不满意', '非常不满意']);
  }
});

test('a rating becomes the §6.6 fields: local time YYYYMMDDThhmmss, anonymous rater, mapped department, region', () => {
  expect(platformTime(Date.parse('2027-02-05T09:30:15+08:00'), 480)).toBe('20270205T093015');
  expect(toPlatform(rating(1), PROFILES.national, site, 480)).toEqual({
    id: 'pad-1:1:7', kind: '评价', caseNo: 'BJ2027-001', channel: '4', rater: '匿名', ratedAt: '20270205T093015', times: '1',
    satisfaction: '非常不满意', satisfactionCode: '5', text: '办理太慢', region: '440106', itemCode: 'I1', department: '11440106MB2C12345X',
    win: 'W1', staff: 's1', outcome: '', closedAt: '',
  });
  const stars = toPlatform(rating(1), PROFILES.stars, site, 480);
  expect(stars.satisfactionCode).toBe('1');
  // Default ratings stay apart from the citizens' own; an unmapped department goes by its id.
  const d = toPlatform(rating(3, { channel: 'default', department: 'D9' }), PROFILES.national, site, 480);
  expect([d.rater, d.channel, d.satisfactionCode, d.department]).toEqual(['系统默认', '5', '3', 'D9']);
  expect(() => toPlatform(rating(3, { channel: 'kiosk' }), PROFILES.national, site, 480)).toThrow(/channel kiosk has no code/);
});

test('CSV: the Chinese field names as the header, RFC 4180 quoting, no formula injection', () => {
  expect(csvHeader()).toBe('评价编号,数据类型,办件编号,评价渠道,评价人,评价时间,评价次数,满意度,满意度代码,文字评价,行政区划,事项编码,部门编码,窗口,工作人员,整改结果,办结时间\r\n');
  const line = csvLine(toPlatform(rating(4, { caseNo: 'A,"1"', staff: '=cmd' }), PROFILES.national, site, 480));
  expect(line).toContain(',"A,""1""",');
  expect(line).toContain(",'=cmd,");
});

test('settings: an HTTP push without an endpoint is refused with the key named', () => {
  const { loadSettings } = jest.requireActual('../../../hub/settings.js') as typeof import('../../../hub/settings.js');
  expect(() => loadSettings({ env: { SANNUO_PLATFORM_ENABLED: 'true', SANNUO_PLATFORM_ADAPTER: 'http' } }))
    .toThrow('settings: platform.http.endpoint: must be an http:// or https:// URL when platform.adapter is "http"');
  expect(() => loadSettings({ env: { SANNUO_PLATFORM_PROFILE: 'guangdong' } })).toThrow('platform.profile: must be one of "national", "stars" (from SANNUO_PLATFORM_PROFILE)');
  expect(() => loadSettings({ env: { SANNUO_PLATFORM_REGION: '4401' } })).toThrow(/platform.region: must match/);
  expect(loadSettings({ env: {} }).defaultRating).toEqual({ days: 0, hour: 1 });
});

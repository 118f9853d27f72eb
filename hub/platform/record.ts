/**
 * What the hall hands the provincial 好差评 platform (数据汇聚): one record per committed rating
 * and per finished bad-rating case, and the national fields of GB/T 39046-2020 §6.6 they become.
 *
 * A record is stored in the outbox as sannuo knows it (levels 1..5 with 5 = 非常满意, channel
 * names, department ids); a profile maps it to the platform's codes when it is sent, so a fixed
 * code table or department mapping reaches records still waiting.
 */

import { BAD_RATING_REASON_LABELS, type BadRatingReason } from '../../firmware/core/protocol.js';
import { csvCell } from '../app/http-util.js';

/** sannuo's channels of a rating: the window's pad, the phone page (QR on the ticket), the site rule's default. */
export type ExportChannel = 'pad' | 'phone' | 'default' | string;

export interface RatingExport {
  kind: 'rating';
  /** The rating's id: the outbox's key and the platform's, so a resend is recognisable. */
  id: string;
  /** 办件编号: the ticket's case number when it has one, else the ticket id. */
  caseNo: string;
  ticket: string | null;
  channel: ExportChannel;
  /** ms since the epoch. */
  t: number;
  /** 评价次数: 1, or 2 for a second rating of the same 办件. */
  times: number;
  /** sannuo's level: 5 非常满意 … 1 非常不满意. */
  level: number;
  reason: string | null;
  item: string | null;
  department: string | null;
  win: string | null;
  staff: string | null;
}

export interface CaseExport {
  kind: 'case';
  /** 'case:' and the case id. */
  id: string;
  case: string;
  rating: string;
  caseNo: string;
  level: number;
  /** rectified (已整改) or appeal-upheld (申诉成立). */
  outcome: string;
  /** When the case closed, ms. */
  t: number;
  item: string | null;
  department: string | null;
  win: string | null;
  staff: string | null;
}

export type ExportRecord = RatingExport | CaseExport;

/** A level → code table and a channel → code table of one platform, and the name of each level. */
export interface Profile {
  name: string;
  /** Where the table comes from. */
  source: string;
  /** sannuo level (1..5, 5 = 非常满意) → the platform's 满意度 code. */
  levels: Record<1 | 2 | 3 | 4 | 5, string>;
  /** sannuo channel → 评价渠道 code. */
  channels: Record<string, string>;
}

export const LEVEL_NAMES: Record<number, string> = { 5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意' };

/**
 * 评价渠道 codes of the national 好差评 interface: 1 PC 端, 2 移动端, 3 二维码, 4 政务大厅平板电脑,
 * 5 政务大厅其他终端, 6 电话, 7 短信. A pad is 4, the phone page is reached by the ticket's QR
 * code (3); a default rating under the site's rule has no channel of its own there, and goes as
 * 5 with 评价人 "系统默认" so it stays distinct.
 */
const NATIONAL_CHANNELS = { pad: '4', phone: '3', default: '5' };

/** The profiles, pinned by tests/hub/platform/profiles.test.ts. */
export const PROFILES: Record<string, Profile> = {
  national: {
    name: 'national',
    source: 'GB/T 39046-2020 附录 A.8: 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意',
    levels: { 5: '1', 4: '2', 3: '3', 2: '4', 1: '5' },
    channels: NATIONAL_CHANNELS,
  },
  stars: {
    name: 'stars',
    source: 'provincial interfaces that count stars: 1 非常不满意 … 5 非常满意 (the code is the star count)',
    levels: { 1: '1', 2: '2', 3: '3', 4: '4', 5: '5' },
    channels: NATIONAL_CHANNELS,
  },
};

export interface SiteCodes {
  /** 行政区划 of the hall. */
  region: string;
  /** sannuo department id → the platform's code. */
  departments: Record<string, string>;
}

/** GB/T 39046's time format, in the hall's local time: YYYYMMDDThhmmss. */
export function platformTime(t: number, utcOffsetMinutes: number): string {
  const s = new Date(t + utcOffsetMinutes * 60_000).toISOString();
  return `${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}T${s.slice(11, 13)}${s.slice(14, 16)}${s.slice(17, 19)}`;
}

/** The fields sent, in this order: the key, and the field's name in GB/T 39046 §6.6 (the CSV header). */
export const FIELDS: [string, string][] = [
  ['id', '评价编号'],
  ['kind', '数据类型'],
  ['caseNo', '办件编号'],
  ['channel', '评价渠道'],
  ['rater', '评价人'],
  ['ratedAt', '评价时间'],
  ['times', '评价次数'],
  ['satisfaction', '满意度'],
  ['satisfactionCode', '满意度代码'],
  ['text', '文字评价'],
  ['region', '行政区划'],
  ['itemCode', '事项编码'],
  ['department', '部门编码'],
  ['win', '窗口'],
  ['staff', '工作人员'],
  ['outcome', '整改结果'],
  ['closedAt', '办结时间'],
];

export type PlatformFields = Record<string, string>;

/**
 * A record in the platform's codes. The citizen is never known by name in a hall (one press on a
 * pad, a phone page without sign-in), so 评价人 is always anonymised.
 */
export function toPlatform(record: ExportRecord, profile: Profile, site: SiteCodes, utcOffsetMinutes: number): PlatformFields {
  const level = record.level as 1 | 2 | 3 | 4 | 5;
  const code = profile.levels[level];
  if (code === undefined) throw new Error(`platform: level ${record.level} has no code in profile ${profile.name}`);
  const department = record.department === null ? '' : (site.departments[record.department] ?? record.department);
  const common = {
    id: record.id, caseNo: record.caseNo, region: site.region, itemCode: record.item ?? '', department, win: record.win ?? '', staff: record.staff ?? '',
    satisfaction: LEVEL_NAMES[level], satisfactionCode: code,
  };
  if (record.kind === 'rating') {
    const channel = profile.channels[record.channel];
    if (channel === undefined) throw new Error(`platform: channel ${record.channel} has no code in profile ${profile.name}`);
    const text = record.reason ? (BAD_RATING_REASON_LABELS[record.reason as BadRatingReason] ?? record.reason) : '';
    return {
      ...common, kind: '评价', channel, rater: record.channel === 'default' ? '系统默认' : '匿名', ratedAt: platformTime(record.t, utcOffsetMinutes),
      times: String(record.times), text, outcome: '', closedAt: '',
    };
  }
  return {
    ...common, kind: '整改', channel: '', rater: '匿名', ratedAt: '', times: '', text: '',
    outcome: record.outcome === 'appeal-upheld' ? '申诉成立' : '已整改', closedAt: platformTime(record.t, utcOffsetMinutes),
  };
}

export function csvLine(fields: PlatformFields): string {
  return FIELDS.map(([key]) => csvCell(fields[key] ?? '')).join(',') + '\r\n';
}

export function csvHeader(): string {
  return FIELDS.map(([, name]) => csvCell(name)).join(',') + '\r\n';
}

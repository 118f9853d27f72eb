/** 通办/帮办 tags on items and tickets: a closed set, so report columns and metric labels stay fixed. */
export const TAGS = ['chuanyu', 'cross-province', 'assisted', 'on-site'] as const;
export type Tag = (typeof TAGS)[number];
/** Chinese first, for reports and the dashboard. */
export const TAG_NAMES: Record<Tag, string> = { chuanyu: '川渝通办', 'cross-province': '跨省通办', assisted: '帮办代办', 'on-site': '上门办' };

// Clause numbers as numbers: 第二条 before 第三条, 第十条 after 第九条, "3" and "第3条" alike.

const DIGIT = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
const UNIT = { 十: 10, 百: 100, 千: 1000 };

/** 二十三 → 23; null when the text has no numeral. */
export function chineseNumber(s) {
  let total = 0, digit = null, seen = false;
  for (const ch of s) {
    if (ch in DIGIT) { digit = DIGIT[ch]; seen = true; continue; }
    if (ch in UNIT) { total += (digit ?? 1) * UNIT[ch]; digit = null; seen = true; continue; }
    break;
  }
  return seen ? total + (digit ?? 0) : null;
}

/** The first number in a clause ("第十二条", "第12条", "12.3"), or Infinity. */
export function clauseNumber(clause) {
  const s = String(clause ?? '');
  const arabic = s.match(/\d+/);
  const zh = s.match(/[零〇一二两三四五六七八九十百千]+/);
  if (arabic && (!zh || arabic.index <= zh.index)) return Number(arabic[0]);
  return zh ? chineseNumber(zh[0]) : Infinity;
}

export function byClause(a, b) {
  return clauseNumber(a) - clauseNumber(b) || String(a ?? '').localeCompare(String(b ?? ''), 'zh');
}

/** The file-drop scenario (tests/hub/platform/file-drop.ts) on SQLite. */

import { fileDropScenario } from './file-drop.js';

test('CSV drop: 评价次数 2, the 7-day 基本满意 rule, and a closed case (SQLite)', () => fileDropScenario('sqlite'), 60_000);

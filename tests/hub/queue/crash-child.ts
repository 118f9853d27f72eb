/**
 * Run by crash.test.ts and killed with SIGKILL at arbitrary moments: works a hall on a real
 * SQLite file with real time, and prints one line per committed change, so the parent can
 * check that everything reported committed survived and the queue state is consistent.
 * Usage: node --import tsx crash-child.ts <dir> <boot> <seed>
 */
import { Hall, rateReqOf, displayOf, seeded, setUpHall } from './harness.js';

const [dir, bootArg, seedArg] = process.argv.slice(2);
const hall = await Hall.open({}, dir);
hall.boot = Number(bootArg);
hall.time = Date.now();
await setUpHall(hall);
const rnd = seeded(Number(seedArg));
const items = ['hukou', 'idcard', 'license', 'food', 'pension', 'jobs'];
const out = (line: string) => process.stdout.write(line + '\n');
out('ready');
for (;;) {
  hall.time = Date.now();
  const r = rnd();
  if (r < 0.45) {
    const t = await hall.queue.issueTicket({ item: items[Math.floor(rnd() * items.length)], priority: rnd() < 0.2 ? 'elderly-disabled' : 'normal' });
    out(`issued ${t.id}`);
  } else {
    const win = `W${1 + Math.floor(rnd() * 6)}`;
    const res = await hall.call(win);
    out(`called ${win} ${displayOf(res.effects, win)?.ticket ?? '-'}`);
    const req = rateReqOf(res.effects);
    if (req && rnd() < 0.8) {
      const rated = await hall.rate(win, { req: req.body.req, level: 4 });
      if (rated.verdict === 'committed') out(`rated ${req.body.ticket}`);
    }
  }
}

/**
 * kill -9 at arbitrary moments: a child process works the queue on a real SQLite file and is
 * killed mid-flight, four times. After each kill the file must hold everything the child
 * reported committed, and the queue must be consistent (every called ticket at exactly one
 * window, every rating bound once and in the ledger, the ledger chain intact).
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Hall, seeded } from './harness.js';

const CHILD = path.join(__dirname, 'crash-child.ts');
const ROOT = path.join(__dirname, '..', '..', '..');

function runAndKill(dir: string, boot: number, killAfter: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(boot), String(boot * 7919)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buffer = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      lines.push(...parts);
      if (!killed && lines.length >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`child exited by itself (code ${code}): ${stderr.slice(-2000)}`));
    });
  });
}

test('queue state survives kill -9 at any moment', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sannuo-queue-crash-'));
  const rnd = seeded(99);
  const issued = new Map<string, string>(); // number → ticket id, newest
  try {
    for (let boot = 1; boot <= 4; boot++) {
      const lines = await runAndKill(dir, boot, 40 + Math.floor(rnd() * 160));
      expect(lines[0]).toBe('ready');
      const hall = await Hall.open({}, dir);
      try {
        // Everything reported committed is there.
        for (const line of lines.slice(1)) {
          const [what, a, b] = line.split(' ');
          if (what === 'issued') {
            const t = await hall.db.get<{ id: string; number: string }>(`SELECT id, number FROM queue_tickets WHERE id = $1`, [a]);
            expect(t).toBeDefined();
            issued.set(t!.number, t!.id);
          } else if (what === 'called' && b !== '-') {
            // By number: its 'issued' line may have been lost in the pipe when an earlier child was killed.
            const t = await hall.db.get<{ status: string }>(`SELECT status FROM queue_tickets WHERE number = $1 ORDER BY issued_at DESC LIMIT 1`, [b]);
            expect(['called', 'serving', 'done', 'no-show']).toContain(t?.status);
          } else if (what === 'rated') {
            expect(await hall.db.get(`SELECT r.id FROM queue_ratings r JOIN queue_tickets t ON t.id = r.ticket WHERE t.number = $1`, [a])).toBeDefined();
          }
        }
        // Every called ticket is at exactly one window, and each window's ticket is called there.
        const windows = await hall.db.all<{ id: string; current_ticket: string | null }>(`SELECT id, current_ticket FROM queue_windows`);
        const atWindows = windows.filter((w) => w.current_ticket).map((w) => w.current_ticket!);
        expect(new Set(atWindows).size).toBe(atWindows.length);
        const called = await hall.db.all<{ id: string; win: string }>(`SELECT id, win FROM queue_tickets WHERE status IN ('called', 'serving')`);
        expect(called.map((t) => t.id).sort()).toEqual([...atWindows].sort());
        for (const t of called) expect(windows.find((w) => w.id === t.win)!.current_ticket).toBe(t.id);
        // Ticket numbers were never reused: each prefix's counter covers every ticket.
        const counters = await hall.db.all<{ day: string; name: string; last: number }>(`SELECT day, name, last FROM queue_counters WHERE name LIKE 'prefix:%'`);
        for (const c of counters) {
          const n = await hall.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_tickets WHERE day = $1 AND number LIKE $2`, [c.day, `${c.name.slice(7)}%`]);
          expect(Number(n!.n)).toBe(Number(c.last));
        }
        // Each rating once, each with its ledger row, and the chain intact.
        const ratings = await hall.db.all<{ dev: string; boot: number; seq: number }>(`SELECT dev, boot, seq FROM queue_ratings ORDER BY dev, boot, seq`);
        const ledgerRatings = await hall.db.all<{ dev: string; boot: number; seq: number }>(`SELECT dev, boot, seq FROM ledger WHERE kind = 'rating' ORDER BY dev, boot, seq`);
        expect(ledgerRatings).toEqual(ratings);
        expect((await hall.verifyLedger()).ok).toBe(true);
      } finally {
        await hall.close(false);
      }
    }
    expect(issued.size).toBeGreaterThan(20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

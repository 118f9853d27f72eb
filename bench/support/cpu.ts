/**
 * CPU accounting for a benchmark run from /proc: each hub process, PostgreSQL (the postmaster
 * and its backends), Mosquitto, this process (the devices), the kernel's interrupt work and
 * the hypervisor's steal, in % of one core over an interval.
 */

import fs from 'node:fs';
import os from 'node:os';

/** CPU ticks of a process (user + system) from /proc/<pid>/stat. */
function processTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

/**
 * The whole machine's ticks from /proc/stat: busy in processes (user, nice, system), in the
 * kernel's interrupt work (irq, softirq: loopback TCP between the parts lands here), stolen by
 * the hypervisor, and in all (guest time is already inside user, so it is left out).
 */
function machineTicks(): { busy: number; irq: number; steal: number; total: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system, irq: irq + softirq, steal: steal ?? 0, total: user + nice + system + idle + iowait + irq + softirq + (steal ?? 0) };
}

/** Ticks of a process and all its descendants (PostgreSQL's backends are the postmaster's children). */
function treeTicks(root: number): number {
  const children = new Map<number, number[]>();
  const own = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      own.set(pid, Number(fields[11]) + Number(fields[12]));
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(pid);
    } catch {
      // the process ended while we looked
    }
  }
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    sum += own.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/** CPU use of each part of the run over an interval, in % of one core. */
export interface CpuSplit { machineBusyPct: number; hubsPct: number[]; postgresPct: number; mosquittoPct: number; devicesPct: number; kernelPct: number; stealPct: number; othersPct: number }

export class CpuMeter {
  private readonly start: { machine: ReturnType<typeof machineTicks>; parts: number[] };
  constructor(private readonly pids: { hubs: number[]; postmaster: number; mosquitto: number }) {
    this.start = { machine: machineTicks(), parts: this.parts() };
  }

  private parts(): number[] {
    return [...this.pids.hubs.map(processTicks), treeTicks(this.pids.postmaster), processTicks(this.pids.mosquitto), processTicks(process.pid)];
  }

  stop(): CpuSplit {
    const machine = machineTicks();
    const parts = this.parts();
    const cores = os.cpus().length;
    const core = (machine.total - this.start.machine.total) / cores || 1; // ticks of one core over the interval
    const pct = parts.map((p, i) => (100 * (p - this.start.parts[i])) / core);
    const n = this.pids.hubs.length;
    const of = (k: 'busy' | 'irq' | 'steal') => (100 * (machine[k] - this.start.machine[k])) / core; // % of one core
    const ours = pct.reduce((a, b) => a + b, 0);
    return {
      machineBusyPct: (of('busy') + of('irq') + of('steal')) / cores, hubsPct: pct.slice(0, n), postgresPct: pct[n], mosquittoPct: pct[n + 1], devicesPct: pct[n + 2],
      kernelPct: of('irq'), stealPct: of('steal'), othersPct: Math.max(0, of('busy') - ours),
    };
  }
}

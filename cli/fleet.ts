/**
 * The technician's fleet commands of the CLI (cli/sannuo.ts builds the program): provision,
 * flash, devices, config push, verify.
 */

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import cliProgress from 'cli-progress';
import { ROLES, type Role } from '../firmware/core/protocol.js';
import { REMOTE_SETTING_KEYS, remoteSettingFromText, type RemoteSettings } from '../firmware/core/config.js';
import { HubApiError, HubClient } from '../simulator/hub-client.js';
import { CliError, ID, ROOT } from './common.js';

// ------------------------------------------------------------------ provision

export interface ProvisionRow { line: number; id: string; role: Role; win: string; fw?: string }

/** Parses a devices CSV (header: id,role,win[,fw]); a bad row names its line and column. */
export function parseDevicesCsv(text: string, file: string): ProvisionRow[] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  for (const need of ['id', 'role', 'win']) {
    if (header.indexOf(need) < 0) throw new CliError(`${file}:1: header: missing column "${need}"; expected id,role,win[,fw]`, 2);
  }
  for (const h of header) if (['id', 'role', 'win', 'fw'].indexOf(h) < 0) throw new CliError(`${file}:1: header: unknown column "${h}"; expected id,role,win[,fw]`, 2);
  const rows: ProvisionRow[] = [];
  const seen = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i];
    if (!raw.trim() || raw.trim().startsWith('#')) continue;
    const cells = raw.split(',').map((c) => c.trim());
    const where = `${file}:${i + 1}`;
    if (cells.length !== header.length) throw new CliError(`${where}: expected ${header.length} columns (${header.join(',')}), found ${cells.length}`, 2);
    const get = (name: string) => cells[header.indexOf(name)];
    const id = get('id');
    const role = get('role');
    const win = get('win');
    if (!ID.test(id)) throw new CliError(`${where}: column id: "${id}" is not a device id; expected 1–32 letters, digits, _ or -`, 2);
    if (ROLES.indexOf(role as Role) < 0) throw new CliError(`${where}: column role: "${role}"; expected one of ${ROLES.join(', ')}`, 2);
    if (!ID.test(win)) throw new CliError(`${where}: column win: "${win}" is not a window id; expected 1–32 letters, digits, _ or -`, 2);
    if (seen.has(id)) throw new CliError(`${where}: column id: "${id}" is already on line ${seen.get(id)}`, 2);
    seen.set(id, i + 1);
    const fw = header.indexOf('fw') >= 0 ? get('fw') : undefined;
    if (fw !== undefined && (fw.length === 0 || fw.length > 32)) throw new CliError(`${where}: column fw: expected a version string of 1–32 characters`, 2);
    rows.push({ line: i + 1, id, role: role as Role, win, ...(fw ? { fw } : {}) });
  }
  if (!rows.length) throw new CliError(`${file}: no devices listed (only a header)`, 2);
  return rows;
}

export async function provisionCommand(opts: { hub: string; token?: string; role?: string; win?: string; id?: string; fw?: string; csv?: string; out?: string; replace?: boolean; secret?: string }): Promise<void> {
  if (opts.secret !== undefined && !/^[0-9a-f]{64}$/.test(opts.secret)) throw new CliError('--secret: expected 64 lowercase hex digits (32 bytes)', 2);
  if (opts.secret !== undefined && opts.csv) throw new CliError('--secret: one device at a time, not with --csv', 2);
  let rows: ProvisionRow[];
  if (opts.csv) {
    let text: string;
    try {
      text = fs.readFileSync(opts.csv, 'utf8');
    } catch (error) {
      throw new CliError(`${opts.csv}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); expected a CSV file with a header id,role,win[,fw]`, 2);
    }
    rows = parseDevicesCsv(text, opts.csv);
  } else {
    if (!opts.role || ROLES.indexOf(opts.role as Role) < 0) throw new CliError(`--role: expected one of ${ROLES.join(', ')} (or --csv <file>)`, 2);
    if (!opts.win || !ID.test(opts.win)) throw new CliError('--win: expected a window id of 1–32 letters, digits, _ or -', 2);
    if (opts.id !== undefined && !ID.test(opts.id)) throw new CliError('--id: expected 1–32 letters, digits, _ or -', 2);
    rows = [{ line: 0, id: opts.id ?? '', role: opts.role as Role, win: opts.win, fw: opts.fw }];
  }
  const client = new HubClient(opts.hub, { token: opts.token });
  const out = opts.out ?? (opts.csv ? 'devices' : undefined);
  if (out && (opts.csv || out.endsWith('/'))) fs.mkdirSync(out, { recursive: true });
  for (const row of rows) {
    let config;
    try {
      config = await client.provision({ role: row.role, win: row.win, ...(row.id ? { id: row.id } : {}), ...(row.fw ? { fw: row.fw } : {}), ...(opts.replace ? { replace: true } : {}), ...(opts.secret ? { secret: opts.secret } : {}) });
    } catch (error) {
      const where = row.line ? `${opts.csv}:${row.line}: ` : '';
      throw new CliError(`${where}${(error as Error).message}`, error instanceof HubApiError && error.status >= 400 && error.status < 500 ? 2 : 1);
    }
    const text = JSON.stringify(config, null, 2) + '\n';
    if (out) {
      const file = opts.csv || out.endsWith('/') ? path.join(out, `${config.id}.json`) : out;
      fs.writeFileSync(file, text, { mode: 0o600 });
      process.stdout.write(`${config.id} (${config.role} at ${config.win}) → ${file}\n`);
    } else {
      process.stdout.write(text);
    }
  }
}

// ------------------------------------------------------------------ flash

export function flashCommand(opts: { config: string; port?: string; platform: string; dryRun?: boolean }): void {
  const missing: string[] = [];
  const moddable = process.env.MODDABLE;
  let mcconfig: string | undefined;
  if (!moddable) {
    missing.push('$MODDABLE is not set: install the Moddable SDK (https://github.com/Moddable-OpenSource/moddable, documentation/Moddable SDK - Getting Started.md) and export MODDABLE=<its folder>');
  } else {
    const candidate = path.join(moddable, 'build', 'bin', process.platform === 'darwin' ? 'mac' : 'lin', 'release', 'mcconfig');
    if (fs.existsSync(candidate)) mcconfig = candidate;
    else missing.push(`mcconfig not found at ${candidate}: build the Moddable tools (cd $MODDABLE/build/makefiles/lin && make)`);
  }
  if (opts.platform.startsWith('esp32') && !process.env.IDF_PATH) missing.push('$IDF_PATH is not set: install ESP-IDF as the Moddable ESP32 guide says (documentation/devices/esp32.md) and source its export.sh');
  let config: Record<string, unknown> | undefined;
  try {
    config = JSON.parse(fs.readFileSync(opts.config, 'utf8'));
  } catch (error) {
    missing.push(`--config ${opts.config}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found; write one with `sannuo provision --out <file>`' : `not a device config JSON (${(error as Error).message})`}`);
  }
  const port = opts.port ?? process.env.UPLOAD_PORT ?? ['/dev/ttyUSB0', '/dev/ttyACM0', '/dev/cu.usbserial-0001'].find((p) => fs.existsSync(p));
  if (opts.platform !== 'lin' && (!port || !fs.existsSync(port))) missing.push(`no device attached: ${port ? `${port} does not exist` : 'no /dev/ttyUSB0 or /dev/ttyACM0'}; plug the ESP32 in over USB or give --port`);
  if (missing.length) throw new CliError(`cannot flash:\n  - ${missing.join('\n  - ')}`, 1);
  // A small manifest that includes the product manifest and sets this device's config.
  const dir = path.join(ROOT, 'build', `flash-${String(config!.id)}`);
  fs.mkdirSync(dir, { recursive: true });
  const manifest = path.join(dir, 'manifest.json');
  fs.writeFileSync(manifest, JSON.stringify({ include: [path.join(ROOT, 'manifest.json')], config: { sannuo: config } }, null, 2));
  const args = ['-d', '-m', '-p', opts.platform, '-t', 'deploy', manifest];
  process.stdout.write(`${mcconfig} ${args.join(' ')}${port ? `  (UPLOAD_PORT=${port})` : ''}\n`);
  if (opts.dryRun) return;
  const result = spawnSync(mcconfig!, args, { stdio: 'inherit', env: { ...process.env, ...(port ? { UPLOAD_PORT: port } : {}) } });
  if (result.status !== 0) throw new CliError(`mcconfig failed (exit ${result.status ?? result.signal})`, 1);
}

// ------------------------------------------------------------------ devices, config, verify

export async function devicesCommand(opts: { hub: string; token?: string; watch?: boolean; json?: boolean }): Promise<void> {
  const client = new HubClient(opts.hub, { token: opts.token });
  const show = async () => {
    const { devices } = await client.devices();
    if (opts.json) return void process.stdout.write(JSON.stringify(devices, null, 2) + '\n');
    const rows = devices.map((d) => {
      const h = d.health as { online?: boolean; lastSeen?: number | null; outbox?: number | null; rssi?: number | null; bat?: number | null; fw?: string | null };
      return [d.id, d.role, d.win, h.online ? '在线' : '离线', h.fw ?? d.fw, String(h.outbox ?? '-'), String(h.rssi ?? '-'), h.bat === -1 ? 'mains' : String(h.bat ?? '-'), h.lastSeen ? new Date(h.lastSeen).toISOString() : '-'];
    });
    const head = ['id', 'role', 'win', 'online', 'fw', 'outbox', 'rssi', 'bat', 'last seen'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
    if (opts.watch) process.stdout.write('\x1b[2J\x1b[H');
    process.stdout.write([fmt(head), ...rows.map(fmt)].join('\n') + `\n${devices.length} devices, ${rows.filter((r) => r[3] === '在线').length} online\n`);
  };
  await show();
  if (!opts.watch) return;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await show().catch((error: Error) => process.stderr.write(`${error.message}\n`));
  }
}

/** What `config push` may change: the firmware's own remote-settings rules (firmware/core/config.ts). */
export const CONFIG_KEYS: readonly string[] = REMOTE_SETTING_KEYS;

export function parseConfigPairs(pairs: string[]): Record<string, unknown> {
  if (!pairs.length) throw new CliError(`expected at least one key=value; keys: ${CONFIG_KEYS.join(', ')}`, 2);
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`"${pair}": expected key=value`, 2);
    const key = pair.slice(0, eq);
    if (!CONFIG_KEYS.includes(key)) throw new CliError(`${key}: unknown setting; expected one of ${CONFIG_KEYS.join(', ')}`, 2);
    const read = remoteSettingFromText(key as keyof RemoteSettings, pair.slice(eq + 1));
    if ('error' in read) throw new CliError(`${key}: ${read.error}`, 2);
    out[key] = read.value;
  }
  return out;
}

export async function configPushCommand(device: string, pairs: string[], opts: { hub: string; token?: string }): Promise<void> {
  if (!ID.test(device)) throw new CliError(`<device>: "${device}" is not a device id`, 2);
  const settings = parseConfigPairs(pairs);
  const client = new HubClient(opts.hub, { token: opts.token });
  try {
    const result = await client.request('POST', `/api/devices/${encodeURIComponent(device)}/config`, settings);
    process.stdout.write(`${JSON.stringify(result ?? { ok: true })}\n`);
  } catch (error) {
    if (error instanceof HubApiError && error.status === 404 && /Route .* not found/i.test(error.message)) {
      throw new CliError(`this hub has no config route (POST /api/devices/:id/config); update the hub`, 1);
    }
    throw new CliError(error instanceof Error ? error.message : String(error), error instanceof HubApiError && error.status >= 400 && error.status < 500 ? 2 : 1);
  }
}

export async function verifyCommand(opts: { hub: string; token?: string; json?: boolean }): Promise<void> {
  const client = new HubClient(opts.hub, { token: opts.token });
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: '校验台帐 verifying ledger {duration}s', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(1, 0);
  let report;
  try {
    report = await client.verify();
  } finally {
    bar?.stop();
  }
  if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
  else if (report.ok) process.stdout.write(`ledger ok: ${report.rows} rows, chain and checkpoint verified\n`);
  if (!report.ok) throw new CliError(`ledger verification FAILED at row ${report.firstBadRow}: ${report.problem}`, 1);
}

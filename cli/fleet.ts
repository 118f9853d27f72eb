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
import { CsvError, readCsv } from '../hub/csv.js';
import { CliError, ID, ROOT } from './common.js';

// ------------------------------------------------------------------ provision

export interface ProvisionRow { line: number; id: string; role: Role; win: string; fw?: string }

/** Parses a devices CSV (header: id,role,win[,fw]); a bad row names its line and column. */
export function parseDevicesCsv(text: string, file: string): ProvisionRow[] {
  // The hub's one CSV reader (RFC 4180, as the commitments import): a quoted cell may hold a comma.
  let table;
  try {
    table = readCsv(text);
  } catch (error) {
    if (error instanceof CsvError) throw new CliError(`${file}:${error.line}: ${error.message.replace(/^line \d+(, )?/, '').replace(/^: /, '') || 'not CSV'}`, 2);
    throw error;
  }
  const first = table[0];
  const header = first && first.line === 1 ? first.cells.map((h) => h.trim()) : [];
  for (const need of ['id', 'role', 'win']) {
    if (header.indexOf(need) < 0) throw new CliError(`${file}:1: header: missing column "${need}"; expected id,role,win[,fw]`, 2);
  }
  for (const h of header) if (['id', 'role', 'win', 'fw'].indexOf(h) < 0) throw new CliError(`${file}:1: header: unknown column "${h}"; expected id,role,win[,fw]`, 2);
  const rows: ProvisionRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, cells: rawCells } of table.slice(header.length ? 1 : 0)) {
    const cells = rawCells.map((c) => c.trim());
    if (cells.every((c) => c === '') || cells[0].startsWith('#')) continue;
    const where = `${file}:${line}`;
    if (cells.length !== header.length) throw new CliError(`${where}: expected ${header.length} columns (${header.join(',')}), found ${cells.length}`, 2);
    const get = (name: string) => cells[header.indexOf(name)];
    const id = get('id');
    const role = get('role');
    const win = get('win');
    if (!ID.test(id)) throw new CliError(`${where}: column id: "${id}" is not a device id; expected 1–32 letters, digits, _ or -`, 2);
    if (ROLES.indexOf(role as Role) < 0) throw new CliError(`${where}: column role: "${role}"; expected one of ${ROLES.join(', ')}`, 2);
    if (!ID.test(win)) throw new CliError(`${where}: column win: "${win}" is not a window id; expected 1–32 letters, digits, _ or -`, 2);
    if (seen.has(id)) throw new CliError(`${where}: column id: "${id}" is already on line ${seen.get(id)}`, 2);
    seen.set(id, line);
    const fw = header.indexOf('fw') >= 0 ? get('fw') : undefined;
    if (fw !== undefined && (fw.length === 0 || fw.length > 32)) throw new CliError(`${where}: column fw: expected a version string of 1–32 characters`, 2);
    rows.push({ line, id, role: role as Role, win, ...(fw ? { fw } : {}) });
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
  // A dry run needs only the device's config: it prints what would run, and what is missing on stderr.
  const blocking = opts.dryRun ? missing.filter((m) => m.startsWith('--config')) : missing;
  if (blocking.length) throw new CliError(`cannot flash:\n  - ${blocking.join('\n  - ')}`, 1);
  if (opts.dryRun && missing.length) process.stderr.write(`dry run; a real flash would still need:\n  - ${missing.join('\n  - ')}\n`);
  // A small manifest that includes the product manifest and sets this device's config.
  const dir = path.join(ROOT, 'build', `flash-${String(config!.id)}`);
  fs.mkdirSync(dir, { recursive: true });
  const manifest = path.join(dir, 'manifest.json');
  fs.writeFileSync(manifest, JSON.stringify({ include: [path.join(ROOT, 'manifest.json')], config: { sannuo: config } }, null, 2));
  const args = ['-d', '-m', '-p', opts.platform, '-t', 'deploy', manifest];
  const tool = mcconfig ?? `${moddable ? moddable : '$MODDABLE'}/build/bin/${process.platform === 'darwin' ? 'mac' : 'lin'}/release/mcconfig`;
  if (opts.dryRun) {
    // Shell lines a technician can copy: the environment mcconfig needs, then the build-and-flash command.
    if (opts.platform.startsWith('esp32')) process.stdout.write(`. ${process.env.IDF_PATH || '$IDF_PATH'}/export.sh\n`);
    if (opts.platform !== 'lin') process.stdout.write(`export UPLOAD_PORT=${port ?? '/dev/ttyUSB0'}\n`);
    process.stdout.write(`${tool} ${args.join(' ')}\n`);
    return;
  }
  process.stdout.write(`${tool} ${args.join(' ')}${port ? `  (UPLOAD_PORT=${port})` : ''}\n`);
  const result = spawnSync(mcconfig!, args, { stdio: 'inherit', env: { ...process.env, ...(port ? { UPLOAD_PORT: port } : {}) } });
  if (result.status !== 0) throw new CliError(`mcconfig failed (exit ${result.status ?? result.signal})`, 1);
}

// ------------------------------------------------------------------ devices, config, verify

export async function devicesCommand(opts: { hub: string; token?: string; watch?: boolean; json?: boolean }): Promise<void> {
  const client = new HubClient(opts.hub, { token: opts.token });
  // ESM-only, so loaded where it is used (the CLI runs as ESM; jest loads this file as CommonJS).
  const { default: stringWidth } = await import('string-width');
  const show = async () => {
    const { devices } = await client.devices();
    if (opts.json) return void process.stdout.write(JSON.stringify(devices, null, 2) + '\n');
    const rows = devices.map((d) => {
      const h = d.health as { online?: boolean; lastSeen?: number | null; outbox?: number | null; rssi?: number | null; bat?: number | null; fw?: string | null };
      return [d.id, d.role, d.win, h.online ? '在线' : '离线', h.fw ?? d.fw, String(h.outbox ?? '-'), String(h.rssi ?? '-'), h.bat === -1 ? 'mains' : String(h.bat ?? '-'), h.lastSeen ? new Date(h.lastSeen).toISOString() : '-'];
    });
    const head = ['id', 'role', 'win', 'online', 'fw', 'outbox', 'rssi', 'bat', 'last seen'];
    const widths = head.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(r[i]))));
    const fmt = (r: string[]) => formatRow(r, widths, stringWidth);
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

/**
 * One table row, each cell padded to its column's width in terminal columns: 在线 takes four,
 * not two, so a String's length would misalign every column after a Chinese cell.
 */
export function formatRow(cells: string[], widths: number[], stringWidth: (text: string) => number): string {
  return cells.map((c, i) => c + ' '.repeat(Math.max(0, widths[i] - stringWidth(c)))).join('  ').trimEnd();
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

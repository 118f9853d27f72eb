/**
 * sannuo: the technician's command line.
 *
 *   sannuo start                 hub + the demo hall simulated in the same process (npm start)
 *   sannuo hub                   the hub alone (hub/main.ts)
 *   sannuo sim <scenario>        a simulated hall against a running hub, with a live view
 *   sannuo provision             register a device (or a CSV batch) and write its config JSON
 *   sannuo flash                 build and flash the firmware with Moddable's mcconfig
 *   sannuo devices               list (or --watch) the fleet's health
 *   sannuo config push <device> key=value…   change a device's settings through the hub
 *   sannuo verify                check the ledger's hash chain and signed checkpoint
 *
 * Calls to the hub carry an API token (--token, else SANNUO_API_TOKEN): the hub's start-up
 * token (settings api.token) or one a supervisor made with POST /api/tokens. provision, devices
 * and config push need a technician or supervisor token; verify too.
 *
 * Exit codes: 0 done; 1 the operation failed (hub unreachable, ledger broken, …); 2 bad input
 * (unknown option, bad scenario, bad CSV row) — each error on stderr, naming where and what.
 */

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import type { View } from '../firmware/core/hardware.js';
import { ROLES, type Role } from '../firmware/core/protocol.js';
import { REMOTE_SETTING_KEYS, remoteSettingFromText, type RemoteSettings } from '../firmware/core/config.js';
import { HubApiError, HubClient } from '../simulator/hub-client.js';
import { newApiToken } from '../hub/app/tokens.js';
import { loadScenario, ScenarioError, type FaultSpec } from '../simulator/scenario.js';
import { Simulation } from '../simulator/simulation.js';
import { VirtualTime } from '../simulator/virtual-time.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMO_SCENARIO = path.join(ROOT, 'scenarios', 'demo-hall.json');
const ID = /^[A-Za-z0-9_-]{1,32}$/;

/** An error for the user: printed without a stack, with the exit code given. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

function hubUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
    return value.replace(/\/+$/, '');
  } catch {
    throw new InvalidArgumentError(`expected an http:// URL such as http://localhost:8080, got "${value}"`);
  }
}

function mqttUrl(value: string): string {
  if (!/^mqtts?:\/\/[^/]+/.test(value)) throw new InvalidArgumentError(`expected an mqtt:// URL such as mqtt://localhost:1883, got "${value}"`);
  return value;
}

const hubOption = () => new Option('--hub <url>', 'hub HTTP API').default(process.env.SANNUO_HUB ?? 'http://localhost:8080').argParser(hubUrl);
// No default shown in --help: it is a secret. HubClient falls back to SANNUO_API_TOKEN itself.
const tokenOption = () => new Option('--token <token>', 'API token of the hub (default: $SANNUO_API_TOKEN); a supervisor makes one with POST /api/tokens');

// ------------------------------------------------------------------ views of a window

const STATUS: Record<string, string> = { idle: '空闲', called: '呼叫', recalled: '重呼', serving: '办理', paused: '暂停', closed: '关闭' };
const LEVEL: Record<number, string> = { 5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意' };

export function describeDisplay(view: View | null | undefined): string {
  if (!view) return '—';
  if (view.screen === 'window') return `${(view.ticket ?? '----').padEnd(5)} ${STATUS[view.status] ?? view.status} 等候${view.waiting}${view.online ? '' : ' 离线'}`;
  if (view.screen === 'notice') return `[${view.text}]`;
  return view.screen;
}

export function describePad(view: View | null | undefined): string {
  if (!view) return '—';
  switch (view.screen) {
    case 'rate': return `请评价 ${view.ticket ?? '本次服务'}${view.online ? '' : ' (离线)'}`;
    case 'reason': return `选择原因 (${LEVEL[view.level]})`;
    case 'thanks': return `感谢: ${LEVEL[view.level]}${view.reason ? ` / ${view.reason}` : ''}`;
    case 'idle': return `待机${view.online ? '' : ' (离线)'}`;
    case 'notice': return `[${view.text}]`;
    default: return view.screen;
  }
}

// ------------------------------------------------------------------ start

async function startCommand(opts: { port: number; mqttPort: number; data: string; scenario: string; sim: boolean }): Promise<void> {
  const scenario = loadScenario(opts.scenario);
  const [{ loadSettings }, { createLogger }, { Hub }, { simWeb }] = await Promise.all([
    import('../hub/settings.js'), import('../hub/log.js'), import('../hub/hub.js'), import('../simulator/web.js'),
  ]);
  const settings = loadSettings({ overrides: { data: opts.data, 'http.port': opts.port, 'mqtt.port': opts.mqttPort, site: scenario.site, hall: scenario.hall } });
  // The simulated hall provisions and sets up through the API like any client: with a token
  // made here unless SANNUO_API_TOKEN fixes one (then the CLI can use it too).
  if (!settings.api.token) settings.api.token = newApiToken();
  const log = createLogger({ level: settings.log.level === 'info' ? 'warn' : settings.log.level, pretty: settings.log.pretty });
  let simulation: Simulation | undefined;
  const hub = new Hub(settings, log, { mount: (app) => simWeb(app, { hall: () => simulation?.hall }) });
  const stop = (signal: string) => {
    process.stderr.write(`\n${signal}: stopping…\n`);
    simulation?.stop();
    hub.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await hub.start();
  const http = `http://localhost:${hub.httpPort}`;
  process.stdout.write(`sannuo hub: ${http}  (MQTT ${hub.mqttUrl})\n`);
  if (!opts.sim) return;
  // Real dates, so tickets belong to today; the scenario's pace (accelerated ×factor) is kept.
  simulation = new Simulation({
    scenario, hub: `http://127.0.0.1:${hub.httpPort}`, token: settings.api.token, mqtt: hub.mqttUrl, stateDir: path.join(opts.data, 'sim'),
    time: new VirtualTime(Date.now()), log: log.child({ module: 'sim' }),
  });
  await simulation.setup();
  process.stdout.write(`虚拟大厅 virtual hall: ${http}/sim/   (${scenario.windows.length} windows, ${scenario.time.mode}${scenario.time.mode === 'accelerated' ? ` ×${scenario.time.factor}` : ''})\n`);
  await simulation.run();
  process.stdout.write(`simulated day over: ${JSON.stringify(simulation.hall.stats)}\nhub still running at ${http} (Ctrl-C to stop)\n`);
}

// ------------------------------------------------------------------ sim

async function simCommand(file: string, opts: { hub: string; token?: string; mqtt?: string; state?: string; view: boolean; speed?: number; mode?: string }): Promise<void> {
  const scenario = loadScenario(file);
  if (opts.mode) scenario.time.mode = opts.mode as typeof scenario.time.mode;
  if (opts.speed) scenario.time.factor = opts.speed;
  const client = new HubClient(opts.hub, { token: opts.token });
  await client.waitReady(10_000).catch((error: Error) => { throw new CliError(error.message); });
  const mqtt = opts.mqtt ?? `mqtt://${new URL(opts.hub).hostname}:1883`;
  const faults: FaultSpec[] = [];
  const simulation = new Simulation({
    scenario, hub: opts.hub, token: opts.token, mqtt, stateDir: opts.state,
    onFault: (fault) => {
      faults.push(fault);
      process.stderr.write(`fault ${fault.kind} at ${fault.at}s: the hub and broker are other processes; restart or kill them yourself\n`);
    },
    time: scenario.time.mode === 'real' ? undefined : undefined,
  });
  process.once('SIGINT', () => { simulation.stop(); process.exit(130); });
  await simulation.setup().catch((error: Error) => { throw new CliError(error.message); });
  const hall = simulation.hall;
  const tty = process.stdout.isTTY && opts.view;
  const multibar = new cliProgress.MultiBar({
    clearOnComplete: false, hideCursor: true, noTTYOutput: false, stream: process.stdout,
    format: (options, params, payload: { line?: string }) => payload.line ?? cliProgress.Format.Formatter(options, params, payload),
  }, cliProgress.Presets.shades_classic);
  const total = scenario.duration;
  const progress = multibar.create(total, 0, { line: undefined }, {
    format: '{bar} {percentage}% | 模拟 {value}/{total} s | 取号 {issued} 办结 {served} 评价 {taken} | 待确认 {pending}',
  });
  const lines = tty ? [...hall.windows.keys()].map(() => multibar.create(1, 0, { line: '' })) : [];
  const redraw = () => {
    const snap = hall.snapshot();
    const elapsed = Math.min(total, Math.round((snap.at - hall.start) / 1000));
    progress.update(elapsed, { issued: snap.stats.issued, served: snap.stats.served, taken: snap.stats.taken, pending: hall.pendingEvents() });
    snap.windows.forEach((w, i) => lines[i]?.update(0, {
      line: `${w.name.padEnd(8)} ${describeDisplay(w.display.view).padEnd(22)} | 评价器 ${describePad(w.pad.view)}${w.display.link !== 'up' || w.pad.link !== 'up' ? `  [${w.display.link}/${w.pad.link}]` : ''}`,
    }));
  };
  const timer = setInterval(redraw, tty ? 250 : 5000);
  try {
    await simulation.run();
  } finally {
    clearInterval(timer);
    redraw();
    multibar.stop();
    simulation.stop();
  }
  const s = hall.stats;
  process.stdout.write(`done: ${s.issued} tickets, ${s.served} served, ${s.taken} ratings taken (${s.pressed} pressed, ${s.skipped} skipped), ${s.noShows} no-shows, ${s.transfers} transfers, ${s.faults} faults; unacked events left: ${hall.pendingEvents()}\n`);
}

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

async function provisionCommand(opts: { hub: string; token?: string; role?: string; win?: string; id?: string; fw?: string; csv?: string; out?: string }): Promise<void> {
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
      config = await client.provision({ role: row.role, win: row.win, ...(row.id ? { id: row.id } : {}), ...(row.fw ? { fw: row.fw } : {}) });
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

function flashCommand(opts: { config: string; port?: string; platform: string; dryRun?: boolean }): void {
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

async function devicesCommand(opts: { hub: string; token?: string; watch?: boolean; json?: boolean }): Promise<void> {
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
const CONFIG_KEYS: readonly string[] = REMOTE_SETTING_KEYS;

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

async function configPushCommand(device: string, pairs: string[], opts: { hub: string; token?: string }): Promise<void> {
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

async function verifyCommand(opts: { hub: string; token?: string; json?: boolean }): Promise<void> {
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

// ------------------------------------------------------------------ program

export function buildProgram(): Command {
  const program = new Command()
    .name('sannuo')
    .description('sannuo 三诺: hall hub, simulator and device tools')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  const port = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port 0–65535, got "${v}"`);
    return n;
  };

  program.command('start')
    .description('run the hub on embedded defaults and the demo hall, simulated, in one process; open http://localhost:8080/sim/')
    // Defaults follow the hub's own environment variables, so `SANNUO_HTTP_PORT=9090 npm start` works.
    .option('--port <port>', 'HTTP port (SANNUO_HTTP_PORT)', port, port(process.env.SANNUO_HTTP_PORT ?? '8080'))
    .option('--mqtt-port <port>', 'embedded broker port (SANNUO_MQTT_PORT)', port, port(process.env.SANNUO_MQTT_PORT ?? '1883'))
    .option('--data <dir>', 'data folder (database, keys, simulator state) (SANNUO_DATA)', process.env.SANNUO_DATA ?? './data')
    .option('--scenario <file>', 'hall to simulate', DEMO_SCENARIO)
    .option('--no-sim', 'the hub only, no simulated hall')
    .action(startCommand);

  program.command('hub')
    .description('run the hub (hub/main.ts); settings from --config, SANNUO_CONFIG and SANNUO_* variables')
    .option('-c, --config <file>', 'settings file (JSON)')
    .action(async (opts: { config?: string }) => {
      process.argv = [process.argv[0], 'sannuo-hub', ...(opts.config ? ['--config', opts.config] : [])];
      await import('../hub/main.js');
    });

  program.command('sim')
    .description('simulate a hall (scenario JSON) against a running hub, with a live view of every window')
    .argument('<scenario>', 'scenario file (see scenarios/demo-hall.json)')
    .addOption(hubOption())
    .addOption(tokenOption())
    .addOption(new Option('--mqtt <url>', 'broker the devices connect to (default: the hub host, port 1883)').argParser(mqttUrl))
    .option('--state <dir>', 'keep device configs and flash here, so a restarted simulator keeps its outboxes')
    .addOption(new Option('--mode <mode>', 'override the scenario time mode').choices(['real', 'accelerated', 'virtual']))
    .option('--speed <factor>', 'override the accelerated factor', (v) => {
      const n = Number(v);
      if (!(n > 0 && n <= 10000)) throw new InvalidArgumentError(`expected a factor > 0 and ≤ 10000, got "${v}"`);
      return n;
    })
    .option('--no-view', 'progress line only, no per-window view')
    .action(simCommand);

  program.command('provision')
    .description('register a device with the hub (or a batch from a CSV with columns id,role,win[,fw]) and write its config JSON')
    .addOption(hubOption())
    .addOption(tokenOption())
    .addOption(new Option('--role <role>', 'pad or display').choices([...ROLES]))
    .option('--win <id>', 'window the device serves')
    .option('--id <id>', 'device id (default: generated by the hub)')
    .option('--fw <version>', 'firmware version')
    .option('--csv <file>', 'provision every row of this CSV')
    .option('--out <path>', 'config file (single device) or folder (CSV; default ./devices)')
    .action(provisionCommand);

  program.command('flash')
    .description("build the firmware with a device's config and flash it with Moddable's mcconfig")
    .requiredOption('--config <file>', 'device config JSON (from sannuo provision)')
    .option('--port <tty>', 'serial port of the attached device (default: $UPLOAD_PORT, /dev/ttyUSB0, /dev/ttyACM0)')
    .option('--platform <platform>', 'mcconfig platform (esp32, esp32/<board>, lin)', 'esp32')
    .option('--dry-run', 'print the mcconfig command without running it')
    .action(flashCommand);

  program.command('devices')
    .description("list the fleet's devices with their health (online, firmware, outbox, signal, battery)")
    .addOption(hubOption())
    .addOption(tokenOption())
    .option('-w, --watch', 'refresh every 2 seconds')
    .option('--json', 'print JSON')
    .action(devicesCommand);

  const config = program.command('config').description('device settings');
  config.command('push')
    .description(`change a device's settings remotely (a signed config command sent by the hub); keys: ${CONFIG_KEYS.join(', ')}`)
    .argument('<device>', 'device id')
    .argument('<key=value...>', 'settings to change')
    .addOption(hubOption())
    .addOption(tokenOption())
    .action(configPushCommand);

  program.command('verify')
    .description("check the ledger's hash chain against the hub's signed checkpoint")
    .addOption(hubOption())
    .addOption(tokenOption())
    .option('--json', 'print the report as JSON')
    .action(verifyCommand);

  for (const c of [program, ...program.commands, ...config.commands]) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with code 0; commander already printed.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof ScenarioError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`sannuo: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof HubApiError) {
      process.stderr.write(`sannuo: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`sannuo: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

// Run when executed (tsx cli/sannuo.ts, bin/sannuo.js), not when imported by tests.
const invoked = process.argv[1] ? pathToFileURL(path.resolve(process.argv[1])).href : '';
if (invoked === import.meta.url || process.env.SANNUO_CLI_MAIN === '1') {
  main(process.argv).then((code) => {
    // Long-running commands (start, hub, devices --watch) keep the process alive themselves.
    if (code !== 0) process.exit(code);
  });
}

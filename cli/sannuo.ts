/**
 * sannuo: the technician's command line.
 *
 *   sannuo start                 hub + the demo hall simulated in the same process (npm start)
 *   sannuo hub                   the hub alone (hub/main.ts)
 *   sannuo sim <scenario>        a simulated hall against a running hub, with a live view
 *   sannuo provision             register a device (or a CSV batch) and write its config JSON
 *   sannuo ota …                 firmware images and staged rollouts (cli/ota.ts)
 *   sannuo flash                 build and flash the firmware with Moddable's mcconfig
 *   sannuo devices               list (or --watch) the fleet's health
 *   sannuo config push <device> key=value…   change a device's settings through the hub
 *   sannuo verify                check the ledger's hash chain and signed checkpoint (--offline: on files)
 *   sannuo backup / restore      an online copy of the database, checkpoints and hub key; restore checks it first
 *   sannuo install-service       a systemd unit for the hub (cli/ops.ts)
 *   sannuo holidays [year…]      the national holiday calendar: covered and provisional years, a year's dates
 *
 * Calls to the hub carry an API token (--token, else SANNUO_API_TOKEN): the hub's start-up
 * token (settings api.token) or one a supervisor made with POST /api/tokens. provision, devices
 * and config push need a technician or supervisor token; verify too.
 *
 * Exit codes: 0 done; 1 the operation failed (hub unreachable, ledger broken, …); 2 bad input
 * (unknown option, bad scenario, bad CSV row) — each error on stderr, naming where and what.
 * provision, flash, devices, config push and verify live in cli/fleet.ts.
 */

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import type { View } from '../firmware/core/hardware.js';
import { ROLES } from '../firmware/core/protocol.js';
import { HubApiError, HubClient } from '../simulator/hub-client.js';
import { newApiToken } from '../hub/app/tokens.js';
import { loadScenario, ScenarioError, type FaultSpec } from '../simulator/scenario.js';
import { Simulation } from '../simulator/simulation.js';
import { VirtualTime } from '../simulator/virtual-time.js';
import { CliError, ROOT } from './common.js';
import { addOpsCommands, verifyOfflineCommand } from './ops.js';
import { otaCommands } from './ota.js';
import { CONFIG_KEYS, configPushCommand, devicesCommand, flashCommand, provisionCommand, verifyCommand } from './fleet.js';
import { holidaysCommand } from './holidays.js';

export { CliError };
export { parseConfigPairs, parseDevicesCsv, type ProvisionRow } from './fleet.js';

const DEMO_SCENARIO = path.join(ROOT, 'scenarios', 'demo-hall.json');

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

async function startCommand(opts: { port?: number; mqttPort?: number; data?: string; scenario: string; sim: boolean }): Promise<void> {
  const scenario = loadScenario(opts.scenario);
  const [{ loadSettings }, { createLogger }, { Hub }, { simWeb }] = await Promise.all([
    import('../hub/settings.js'), import('../hub/log.js'), import('../hub/hub.js'), import('../simulator/web.js'),
  ]);
  // Flags override; otherwise SANNUO_HTTP_PORT, SANNUO_MQTT_PORT and SANNUO_DATA are read here, when
  // the command runs, so a bad one is the settings' clear error and never breaks another command.
  // The simulated hall's name is the hall's name on the dashboard and its reports.
  const flags: Record<string, unknown> = { site: scenario.site, hall: scenario.hall, hallName: scenario.name };
  if (opts.data !== undefined) flags.data = opts.data;
  if (opts.port !== undefined) flags['http.port'] = opts.port;
  if (opts.mqttPort !== undefined) flags['mqtt.port'] = opts.mqttPort;
  const settings = loadSettings({ overrides: flags });
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
    scenario, hub: `http://127.0.0.1:${hub.httpPort}`, token: settings.api.token, mqtt: hub.mqttUrl, stateDir: path.join(settings.data, 'sim'),
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
    // Without a flag the hub's own settings apply (SANNUO_HTTP_PORT=9090 npm start works), read when start runs.
    .option('--port <port>', 'HTTP port (default: SANNUO_HTTP_PORT, else 8080)', port)
    .option('--mqtt-port <port>', 'embedded broker port (default: SANNUO_MQTT_PORT, else 1883)', port)
    .option('--data <dir>', 'data folder (database, keys, simulator state) (default: SANNUO_DATA, else ./data)')
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
    .option('--replace', "a supervisor's token only: replace the window's rating pad (the old one is unbound)")
    .option('--secret <hex>', "a technician's token only: the device's known secret (64 hex digits), e.g. the one in a lin build's manifest")
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
    .description("check the ledger's hash chain against the hub's signed checkpoint (through the hub; --offline: on a backup or a stopped hub's files)")
    .addOption(hubOption())
    .addOption(tokenOption())
    .option('--offline [dir]', "read the files, no hub: a backup folder, or a data folder (default: settings data)")
    .option('-c, --config <file>', "with --offline: the hub's settings file (default: $SANNUO_CONFIG)")
    .option('--db <url>', 'with --offline on a PostgreSQL backup: the server to restore it into a scratch database for the check')
    .option('--json', 'print the report as JSON')
    .action((opts: { hub: string; token?: string; json?: boolean; offline?: string | true; config?: string; db?: string }) =>
      opts.offline ? verifyOfflineCommand(opts.offline, opts) : verifyCommand(opts));

  program.command('holidays')
    .description('the national holiday and 调休 calendar the hub uses: years covered by the shipped data, provisional years, a year\'s dates')
    .argument('[year...]', 'years to list (YYYY)')
    .option('--json', 'print JSON')
    .action(holidaysCommand);

  addOpsCommands(program);

  const ota = otaCommands(program, hubOption, tokenOption);

  for (const c of [program, ...program.commands, ...config.commands, ...ota.commands]) c.exitOverride();
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
    if (error instanceof Error && error.name === 'SettingsError') {
      // A bad SANNUO_* value or settings file: the key, the problem and where it came from.
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

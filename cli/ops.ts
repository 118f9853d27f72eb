/**
 * The operator's commands of the CLI (cli/sannuo.ts builds the program): backup, restore,
 * verify --offline (hub/ops/backup.ts) and install-service (hub/ops/service.ts). They read the
 * hub's settings (--config, SANNUO_CONFIG, SANNUO_*) when they run, as the hub does, and work on
 * its files directly: no hub needs to be running, and restore refuses while one is.
 */

import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadSettings, type Settings } from '../hub/settings.js';
import type { HallVerify } from '../hub/ops/backup.js';
import type { ServiceOptions } from '../hub/ops/service.js';
import { CliError, ROOT } from './common.js';

// Loaded when a command runs, so every other command starts without the ledger and database code.
const backupModule = () => import('../hub/ops/backup.js');
const serviceModule = () => import('../hub/ops/service.js');

function settingsOf(opts: { config?: string; data?: string }): Settings {
  return loadSettings({ file: opts.config, overrides: opts.data ? { data: opts.data } : {} });
}

async function asCli<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Error && error.name === 'OpsError') throw new CliError(error.message, (error as Error & { exitCode?: number }).exitCode ?? 1);
    throw error;
  }
}

function describe(verified: HallVerify[]): string {
  return verified.map((v) => `  hall ${v.hall}: ${v.report.ok ? `${v.report.rows} rows, chain and checkpoint (row ${v.report.checkpoint?.row ?? 0}) verified` : `FAILED at row ${v.report.firstBadRow}: ${v.report.problem}`}`).join('\n');
}

export async function backupCommand(opts: { config?: string; data?: string; out?: string; json?: boolean }): Promise<void> {
  const settings = settingsOf(opts);
  const out = path.resolve(opts.out ?? `sannuo-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const started = Date.now();
  const { takeBackup } = await backupModule();
  const { manifest, verified } = await asCli(() => takeBackup(settings, out));
  if (opts.json) return void process.stdout.write(JSON.stringify({ out, ...manifest, ms: Date.now() - started }) + '\n');
  process.stdout.write(`backup written to ${out} (${manifest.db}, ${Date.now() - started} ms):\n${describe(verified)}\n`
    + `it holds the hub key: keep it as safe as the key itself\n`);
}

export async function restoreCommand(from: string, opts: { config?: string; data?: string; json?: boolean }): Promise<void> {
  const settings = settingsOf(opts);
  const { restoreBackup } = await backupModule();
  const result = await asCli(() => restoreBackup(settings, path.resolve(from)));
  if (opts.json) return void process.stdout.write(JSON.stringify({ ok: true, movedAside: result.movedAside, halls: result.manifest.halls }) + '\n');
  process.stdout.write(`backup of ${result.manifest.at} verified and restored into ${path.resolve(settings.data)}:\n${describe(result.verified)}\n`
    + (result.movedAside ? `the files it replaced are in ${result.movedAside}\n` : '') + 'start the hub (systemctl start sannuo)\n');
}

/** verify --offline [dir]: a backup folder (it has manifest.json), or the data folder of settings. */
export async function verifyOfflineCommand(target: string | true, opts: { config?: string; data?: string; db?: string; json?: boolean }): Promise<void> {
  const dir = typeof target === 'string' ? path.resolve(target) : undefined;
  const { verifyBackup, verifyDataFolder } = await backupModule();
  const verified = await asCli(async () => {
    if (dir && fs.existsSync(path.join(dir, 'manifest.json'))) return (await verifyBackup(dir, opts.db)).verified;
    return verifyDataFolder(settingsOf({ config: opts.config, data: dir ?? opts.data }));
  });
  const ok = verified.every((v) => v.report.ok);
  if (opts.json) process.stdout.write(JSON.stringify({ ok, halls: verified.map((v) => ({ hall: v.hall, ...v.report })) }) + '\n');
  else if (ok) process.stdout.write(`ledger ok (offline):\n${describe(verified)}\n`);
  if (!ok) throw new CliError(`ledger verification FAILED:\n${describe(verified.filter((v) => !v.report.ok))}`, 1);
}

export async function installServiceCommand(opts: ServiceOptions & { dryRun?: boolean }): Promise<void> {
  const { serviceUnit, installService } = await serviceModule();
  const unit = serviceUnit({ ...opts, root: ROOT, node: process.execPath });
  if (opts.dryRun) return void process.stdout.write(unit);
  const done = await asCli(() => installService(unit, { ...opts, root: ROOT, node: process.execPath }));
  process.stdout.write(done.map((line) => `${line}\n`).join(''));
}

const configOption = () => new Option('-c, --config <file>', "the hub's settings file (default: $SANNUO_CONFIG; SANNUO_* variables apply too)");
const dataOption = () => new Option('--data <dir>', "the hub's data folder (default: settings data)");

/** Adds backup, restore and install-service to the program; verify's --offline is wired in cli/sannuo.ts. */
export function addOpsCommands(program: Command): Command[] {
  const backup = program.command('backup')
    .description("copy the hub's database (SQLite online backup, or pg_dump), checkpoints and hub key into a new folder, and verify the copy")
    .addOption(configOption())
    .addOption(dataOption())
    .option('--out <dir>', 'backup folder to create (default ./sannuo-backup-<time>)')
    .option('--json', 'print the manifest as JSON')
    .action(backupCommand);
  const restore = program.command('restore')
    .description("check a backup's chain against its signed checkpoint, then (the hub stopped) replace the data folder's files with it; the old ones are moved aside")
    .argument('<backup>', 'backup folder (from sannuo backup)')
    .addOption(configOption())
    .addOption(dataOption())
    .option('--json', 'print the result as JSON')
    .action(restoreCommand);
  const service = program.command('install-service')
    .description('write a systemd unit for the hub (Restart=always, a user of its own, the data folder 0700), create the user and folder, reload systemd')
    .option('--name <name>', 'unit name', 'sannuo')
    .option('--user <user>', 'system user the hub runs as (created if missing)', 'sannuo')
    .option('--data <dir>', 'data folder (owned by the user, mode 0700)', '/var/lib/sannuo')
    .addOption(configOption())
    .option('--unit-dir <dir>', 'where the unit is written', '/etc/systemd/system')
    .option('--mosquitto', 'a Mosquitto on this host: start after it, and run in its group so the hub can give it the password files')
    .option('--postgres', 'a PostgreSQL on this host: start after it')
    .option('--dry-run', 'print the unit; change nothing')
    .action(installServiceCommand);
  return [backup, restore, service];
}

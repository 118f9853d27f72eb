/**
 * Process entry: `npx tsx hub/main.ts [--config settings.json]`. Prints where it listens;
 * SIGTERM/SIGINT shut it down gracefully (in-flight commits finish and are acked first).
 */

import { Command } from 'commander';
import { loadSettings, SettingsError } from './settings.js';
import { createLogger } from './log.js';
import { createHub } from './hub.js';

async function main(): Promise<void> {
  const program = new Command()
    .name('sannuo-hub')
    .description('sannuo hub: MQTT broker, ingest, queue, ledger and HTTP API for one hall, or for the halls of a district it holds by lease (settings cluster.*)')
    .option('-c, --config <file>', 'settings file (JSON); also SANNUO_CONFIG')
    .parse(process.argv);
  const opts = program.opts<{ config?: string }>();
  let settings;
  try {
    settings = loadSettings({ file: opts.config });
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(error.message + '\n');
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger({ level: settings.log.level, pretty: settings.log.pretty });
  const hub = createHub(settings, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    hub.stop().then(() => process.exit(0), (error) => { log.error({ err: error }, 'shutdown failed'); process.exit(1); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await hub.start();
  } catch (error) {
    log.fatal({ err: error }, 'hub failed to start');
    await hub.stop().catch(() => undefined);
    process.exit(1);
  }
  process.stdout.write(`sannuo hub listening: MQTT ${hub.mqttUrl}  HTTP http://${settings.http.host}:${hub.httpPort}\n`);
}

void main();

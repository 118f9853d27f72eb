/**
 * The hub as a systemd service (`sannuo install-service`, cli/ops.ts): the unit text, and the
 * installation (a system user of its own, the data folder 0700 owned by it, the unit written,
 * systemd reloaded).
 *
 * With a Mosquitto on the same host (--mosquitto) the hub writes Mosquitto's passwd and acl into
 * a folder of their own outside the data folder (Mosquitto cannot enter a 0700 folder), in the
 * mosquitto group, and a path unit reloads Mosquitto when they change: a hub running as its own
 * user may not signal Mosquitto's process itself.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { OpsError } from './backup.js';
import { lookupUser } from '../mqtt/mosquitto.js';

export interface ServiceOptions {
  name: string;
  user: string;
  data: string;
  config?: string;
  unitDir: string;
  mosquitto?: boolean;
  postgres?: boolean;
}

export interface UnitContext extends ServiceOptions {
  /** The repository (WorkingDirectory; bin/sannuo.js runs from it). */
  root: string;
  /** The node binary. */
  node: string;
}

/** Where the hub writes Mosquitto's files for a Mosquitto on the same host. */
export const HOST_MOSQUITTO_DIR = '/etc/mosquitto/sannuo';
const STOP_SECONDS = 25; // settings shutdown.timeout (15 s) plus a margin for the checkpoint and close

function quoteArg(arg: string): string {
  // systemd's own quoting: a path with a space is double-quoted, a backslash or quote escaped.
  return /[\s"\\]/.test(arg) ? `"${arg.replace(/(["\\])/g, '\\$1')}"` : arg;
}

/** The unit file(s), each headed by `# file: <path>`, as install writes them. */
export function serviceUnit(context: UnitContext): string {
  const o = { ...context, root: path.resolve(context.root) };
  const data = path.resolve(o.data);
  const after = ['network-online.target', ...(o.mosquitto ? ['mosquitto.service'] : []), ...(o.postgres ? ['postgresql.service'] : [])];
  const stateDir = data.startsWith('/var/lib/') ? data.slice('/var/lib/'.length) : undefined;
  // ProtectHome=yes would hide a checkout under /home or /root from the hub itself.
  const home = /^\/(home|root)(\/|$)/.test(o.root) || /^\/(home|root)(\/|$)/.test(data);
  const lines = [
    `# file: ${path.join(o.unitDir, `${o.name}.service`)}`,
    '# written by `sannuo install-service`; run it again to change this file',
    '[Unit]',
    'Description=sannuo 三诺 hub (MQTT, ingest, queue, ledger, HTTP)',
    `Documentation=file://${path.join(o.root, 'README.md')}`,
    `Wants=${after.join(' ')}`,
    `After=${after.join(' ')}`,
    // Restart=always for good: no start limit that would leave a hall without its hub.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `User=${o.user}`,
    `Group=${o.user}`,
    ...(o.mosquitto ? ['SupplementaryGroups=mosquitto'] : []),
    `WorkingDirectory=${o.root}`,
    `Environment=SANNUO_DATA=${data}`,
    ...(o.config ? [`Environment=SANNUO_CONFIG=${path.resolve(o.config)}`] : []),
    ...(o.mosquitto ? [`Environment=SANNUO_MOSQUITTO_DIR=${HOST_MOSQUITTO_DIR}`, 'Environment=SANNUO_MOSQUITTO_USER=mosquitto'] : []),
    `ExecStart=${[o.node, path.join(o.root, 'bin', 'sannuo.js'), 'hub'].map(quoteArg).join(' ')}`,
    'Restart=always',
    'RestartSec=2s',
    // SIGTERM: in-flight commits finish and are acked, a checkpoint is signed, then it exits.
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${STOP_SECONDS}s`,
    'UMask=0077',
    ...(stateDir ? [`StateDirectory=${stateDir}`, 'StateDirectoryMode=0700'] : []),
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${[data, ...(o.mosquitto ? [HOST_MOSQUITTO_DIR] : [])].map(quoteArg).join(' ')}`,
    `ProtectHome=${home ? 'read-only' : 'yes'}`,
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'LimitNOFILE=65536',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  if (o.mosquitto) {
    lines.push(
      `# file: ${path.join(o.unitDir, `${o.name}-mosquitto-reload.path`)}`,
      '[Unit]',
      'Description=reload Mosquitto when the sannuo hub rewrites its password or ACL file',
      '',
      '[Path]',
      `PathChanged=${HOST_MOSQUITTO_DIR}/passwd`,
      `PathChanged=${HOST_MOSQUITTO_DIR}/acl`,
      `Unit=${o.name}-mosquitto-reload.service`,
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
      `# file: ${path.join(o.unitDir, `${o.name}-mosquitto-reload.service`)}`,
      '[Unit]',
      'Description=reload Mosquitto (SIGHUP) for the sannuo hub',
      '',
      '[Service]',
      'Type=oneshot',
      'ExecStart=/bin/systemctl reload mosquitto.service',
      '',
    );
  }
  return lines.join('\n');
}

/** Splits serviceUnit's text into its files. */
export function unitFiles(text: string): { file: string; text: string }[] {
  return text.split(/^(?=# file: )/m).filter((part) => part.trim()).map((part) => ({ file: part.slice('# file: '.length, part.indexOf('\n')), text: part }));
}

function sh(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new OpsError(`${cmd} ${args.join(' ')} failed: ${String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim()}`);
  }
}

/** Creates the user and the data folder, writes the unit(s), reloads systemd; returns what it did. */
export async function installService(unit: string, o: UnitContext): Promise<string[]> {
  if (process.getuid?.() !== 0) throw new OpsError('install-service changes the system (a user, /etc/systemd/system): run it as root, or see the unit with --dry-run', 1);
  const done: string[] = [];
  let user = lookupUser(o.user);
  if (!user) {
    sh('useradd', ['--system', '--user-group', '--home-dir', path.resolve(o.data), '--no-create-home', '--shell', '/usr/sbin/nologin', o.user]);
    user = lookupUser(o.user);
    if (!user) throw new OpsError(`useradd did not create ${o.user}`);
    done.push(`created system user ${o.user}`);
  }
  const data = path.resolve(o.data);
  fs.mkdirSync(data, { recursive: true, mode: 0o700 });
  fs.chmodSync(data, 0o700);
  fs.chownSync(data, user.uid, user.gid);
  done.push(`data folder ${data}: owner ${o.user}, mode 0700`);
  if (o.mosquitto) {
    const mosquitto = lookupUser('mosquitto');
    if (!mosquitto) throw new OpsError('--mosquitto: no mosquitto user on this host; apt-get install mosquitto first');
    fs.mkdirSync(HOST_MOSQUITTO_DIR, { recursive: true });
    fs.chownSync(HOST_MOSQUITTO_DIR, user.uid, mosquitto.gid);
    fs.chmodSync(HOST_MOSQUITTO_DIR, 0o750);
    done.push(`${HOST_MOSQUITTO_DIR}: owner ${o.user}, group mosquitto, mode 0750 (point password_file and acl_file here; deploy/README.md)`);
  }
  for (const { file, text } of unitFiles(unit)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, { mode: 0o644 });
    done.push(`wrote ${file}`);
  }
  // Only where systemd runs (not in a container or a chroot).
  if (fs.existsSync('/run/systemd/system')) {
    sh('systemctl', ['daemon-reload']);
    done.push('systemctl daemon-reload');
  }
  done.push(`next: systemctl enable --now ${o.name}${o.mosquitto ? ` ${o.name}-mosquitto-reload.path` : ''}`);
  return done;
}

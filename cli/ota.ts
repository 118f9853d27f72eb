/**
 * `sannuo ota …`: firmware images and their staged rollouts, through the hub's API (hub/ota).
 * Every command that changes something is a ledger row at the hub naming the API token used.
 *
 *   sannuo ota upload <file> <version> [--note text]
 *   sannuo ota images
 *   sannuo ota rollout <version> [--devices a,b,…] [--canary 2 | --canary-devices a,b] [--batch 10]
 *   sannuo ota status [rollout]          (default: the running one)
 *   sannuo ota pause|resume|rollback <rollout>
 */

import fs from 'node:fs';
import type { Command } from 'commander';
import { HubApiError, HubClient } from '../simulator/hub-client.js';
import { CliError } from './common.js';

type Opts = { hub: string; token?: string; json?: boolean };

interface TargetView { dev: string; wave: number; from: string | null; status: string; got: number; size: number; err: string | null }
interface RolloutView { id: string; version: string; status: string; reason: string | null; batch: number; by: string; targets: TargetView[] }

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

function print(r: RolloutView, json?: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  const count = (s: string) => r.targets.filter((t) => t.status === s).length;
  process.stdout.write(`rollout ${r.id}: ${r.version} ${r.status}${r.reason ? ` (${r.reason})` : ''}; by ${r.by}; `
    + `${r.targets.length} devices: ${['done', 'offered', 'downloading', 'waiting', 'failed', 'reverting', 'reverted', 'skipped'].filter((s) => count(s) > 0).map((s) => `${count(s)} ${s}`).join(', ')}\n`);
  for (const t of r.targets) {
    if (t.status === 'done' || t.status === 'waiting') continue;
    const pct = t.size ? Math.floor((t.got * 100) / t.size) : 0;
    process.stdout.write(`  ${t.dev.padEnd(24)} wave ${t.wave} ${t.status}${t.status === 'downloading' ? ` ${pct}%` : ''}${t.err ? `: ${t.err}` : ''}\n`);
  }
}

async function upload(file: string, version: string, opts: Opts & { note?: string }): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new CliError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 2);
  }
  const client = new HubClient(opts.hub, { token: opts.token });
  const query = new URLSearchParams({ version, ...(opts.note ? { note: opts.note } : {}) });
  const res = await fetch(`${client.base}/api/ota/images?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...(client.token ? { authorization: `Bearer ${client.token}` } : {}) },
    body: new Uint8Array(bytes),
  }).catch((error: unknown) => { throw new HubApiError(0, `POST ${client.base}/api/ota/images: hub not reachable (${(error as Error).message})`); });
  const data = await res.json().catch(() => ({})) as { message?: string; version?: string; size?: number; sha256?: string };
  if (!res.ok) throw new CliError(`POST /api/ota/images: ${res.status} ${data.message ?? ''}`, res.status < 500 ? 2 : 1);
  process.stdout.write(opts.json ? JSON.stringify(data, null, 2) + '\n' : `stored ${data.version}: ${data.size} bytes, SHA-256 ${data.sha256}, signed by the hub's release key\n`);
}

export function otaCommands(program: Command, hubOption: () => import('commander').Option, tokenOption: () => import('commander').Option): Command {
  const ota = program.command('ota').description('over-the-air firmware updates: images, staged rollouts, pause, rollback');
  const common = (c: Command) => c.addOption(hubOption()).addOption(tokenOption()).option('--json', 'print JSON');
  common(ota.command('upload').description('store a firmware image at the hub (signed there with its release key)')
    .argument('<file>', 'the image (the .bin mcconfig built)')
    .argument('<version>', 'its firmware version (what the device reports once it runs it)')
    .option('--note <text>', 'what changed'))
    .action(upload);
  common(ota.command('images').description('list the stored images')).action(async (opts: Opts) => {
    const { images } = await new HubClient(opts.hub, { token: opts.token }).request<{ images: { version: string; size: number; sha256: string; by: string; note: string | null }[] }>('GET', '/api/ota/images');
    if (opts.json) process.stdout.write(JSON.stringify(images, null, 2) + '\n');
    else for (const i of images) process.stdout.write(`${i.version.padEnd(12)} ${String(i.size).padStart(9)} B  ${i.sha256}  by ${i.by}${i.note ? `  ${i.note}` : ''}\n`);
  });
  common(ota.command('rollout').description('update devices in stages: a canary wave first, then the rest in batches; a failed device pauses it')
    .argument('<version>', 'a stored image')
    .option('--devices <ids>', 'comma-separated device ids (default: every device)', list)
    .option('--canary <n>', 'devices in the first wave (default 2)', (v) => Number(v))
    .option('--canary-devices <ids>', 'exactly these devices first', list)
    .option('--batch <n>', 'devices of the second wave updating at once (default 10)', (v) => Number(v)))
    .action(async (version: string, opts: Opts & { devices?: string[]; canary?: number; canaryDevices?: string[]; batch?: number }) => {
      const body = { version, ...(opts.devices ? { devices: opts.devices } : {}), ...(opts.canary !== undefined ? { canary: opts.canary } : {}), ...(opts.canaryDevices ? { canaryDevices: opts.canaryDevices } : {}), ...(opts.batch !== undefined ? { batch: opts.batch } : {}) };
      print(await new HubClient(opts.hub, { token: opts.token }).request<RolloutView>('POST', '/api/ota/rollouts', body), opts.json);
    });
  common(ota.command('status').description('a rollout and its devices (default: the running one)').argument('[rollout]', 'rollout id'))
    .action(async (id: string | undefined, opts: Opts) => {
      const client = new HubClient(opts.hub, { token: opts.token });
      const r = id ? await client.request<RolloutView>('GET', `/api/ota/rollouts/${encodeURIComponent(id)}`) : (await client.request<{ rollout: RolloutView | null }>('GET', '/api/ota/rollouts/current')).rollout;
      if (!r) process.stdout.write(opts.json ? 'null\n' : 'no rollout is running\n');
      else print(r, opts.json);
    });
  for (const action of ['pause', 'resume', 'rollback'] as const) {
    const what = { pause: 'stop offering the image (devices mid-download finish)', resume: 'carry on; devices that failed are offered it again', rollback: 'offer the devices that took it the version each ran before' }[action];
    common(ota.command(action).description(what).argument('<rollout>', 'rollout id'))
      .action(async (id: string, opts: Opts) => print(await new HubClient(opts.hub, { token: opts.token }).request<RolloutView>('POST', `/api/ota/rollouts/${encodeURIComponent(id)}/${action}`, {}), opts.json));
  }
  return ota;
}

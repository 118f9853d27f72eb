/**
 * The district's compose file and the hub's Dockerfile, checked without Docker where it is
 * missing: `docker compose config` (or docker-compose) when one is installed, and always the
 * file itself read with a YAML library: every SANNUO_* a known setting, no host node_modules
 * mounted, the image built from the Dockerfile, Mosquitto's files given to its user; and the
 * Dockerfile copying everything the hub imports, with the CJK font the reports need.
 */

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { envName, settingKeys } from '../../hub/settings.js';
import { CJK_FONT } from '../../hub/app/report.js';

const ROOT = path.join(__dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const composeText = fs.readFileSync(path.join(DEPLOY, 'compose.yaml'), 'utf8');
const compose = parse(composeText, { merge: true }) as { services: Record<string, any>; volumes: Record<string, unknown> };
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const hubs = Object.entries(compose.services).filter(([name]) => name.startsWith('hub-'));

/** A compose tool on this machine, if any. */
function composeTool(): string[] | undefined {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const r = spawnSync(cmd[0], [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    if (r.status === 0) return cmd;
  }
  return undefined;
}

test('docker compose config accepts the file, where a compose tool is installed; the YAML parses either way', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['hub-1', 'hub-2', 'mosquitto', 'postgres']);
  const tool = composeTool();
  if (!tool) return; // no Docker Compose here: the checks below read the file itself
  const env = path.join(os.tmpdir(), `sannuo-compose-${process.pid}.env`);
  fs.writeFileSync(env, 'POSTGRES_PASSWORD=x\nHUB_MQTT_PASSWORD=y\nSANNUO_HUB_KEY=' + '0'.repeat(64) + '\nDISTRICT_HALLS=hz-01\n');
  try {
    const r = spawnSync(tool[0], [...tool.slice(1), '-f', path.join(DEPLOY, 'compose.yaml'), '--env-file', env, '-p', 'sannuo-check', 'config', '-q'], { encoding: 'utf8' });
    expect({ status: r.status, err: r.stderr }).toEqual({ status: 0, err: '' });
  } finally {
    fs.rmSync(env, { force: true });
  }
});

test('the hubs run the image built from the Dockerfile; nothing of the host (node_modules) is mounted', () => {
  expect(hubs.length).toBe(2);
  for (const [name, hub] of hubs) {
    expect({ name, build: hub.build }).toEqual({ name, build: { context: '..', dockerfile: 'Dockerfile' } });
    expect(fs.existsSync(path.join(DEPLOY, hub.build.context, hub.build.dockerfile))).toBe(true);
    for (const v of hub.volumes as string[]) expect({ name, v }).toEqual({ name, v: expect.not.stringMatching(/^\.\.?(\/|:)/) });
    expect(hub.command.join(' ')).toContain('exec node bin/sannuo.js hub');
  }
});

test('every SANNUO_* the hubs get is a setting the hub knows; every required variable is in .env.example', () => {
  const known = new Set(settingKeys().map(([key]) => envName(key)));
  known.add('SANNUO_HUB_KEY'); // read by the container's command, written to /data/hub.key
  for (const [name, hub] of hubs) {
    for (const key of Object.keys(hub.environment)) if (key.startsWith('SANNUO_')) expect({ name, key, known: known.has(key) }).toEqual({ name, key, known: true });
    expect(hub.environment.SANNUO_MOSQUITTO_USER).toBe('1883:1883');
    expect(hub.user).toBe('0:0');
  }
  const example = fs.readFileSync(path.join(DEPLOY, '.env.example'), 'utf8');
  const required = [...composeText.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]);
  expect(required.length).toBeGreaterThan(0);
  for (const v of new Set(required)) expect(example).toMatch(new RegExp(`^${v}=`, 'm'));
  // Mosquitto reads the hubs' files from the shared volume, read-only.
  expect(compose.services.mosquitto.volumes).toContain('mosquitto-auth:/mosquitto/auth:ro');
});

test('the Dockerfile installs the CJK font the reports use and copies every folder the hub and CLI import', () => {
  expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
  expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends fonts-noto-cjk/);
  // fonts-noto-cjk's file is the one hub/app/report.ts opens.
  expect(CJK_FONT).toBe('/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc');
  expect(dockerfile).toMatch(/RUN npm ci --omit=dev/);
  const copied = [...dockerfile.matchAll(/^COPY (.+) \.\/(\S*)$/gm)].flatMap((m) => m[1].split(' '));
  for (const src of copied) expect({ src, exists: fs.existsSync(path.join(ROOT, src)) }).toEqual({ src, exists: true });
  const dirs = copied.filter((c) => fs.statSync(path.join(ROOT, c)).isDirectory());
  // Every relative import in the copied code stays inside what is copied (never support/, tests/, bench/).
  const escapes: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(ts|js)$/.test(entry.name)) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
          const top = path.relative(ROOT, path.resolve(path.dirname(file), m[1])).split(path.sep)[0];
          if (!copied.includes(top) && !copied.includes(path.relative(ROOT, path.resolve(path.dirname(file), m[1])))) escapes.push(`${path.relative(ROOT, file)} → ${m[1]}`);
        }
      }
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  expect(escapes).toEqual([]);
  expect(dockerfile).toMatch(/^CMD \["node", "bin\/sannuo.js", "hub"\]$/m);
  const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(ignore).toEqual(expect.arrayContaining(['node_modules', 'data', '.git']));
});

/**
 * Password and ACL files for an external Mosquitto 2, written from the registry. Passwords are
 * hashed as mosquitto_passwd does: `user:$7$<iterations>$<base64 salt>$<base64 hash>`,
 * PBKDF2-SHA512 with a 12-byte salt and a 64-byte hash (mosquitto src/password_mosq.c). The
 * ACL gives each device its own evt/state (write) and cmd/ack (read) topics and the hub
 * everything under the site (in a district: under every site). mosquittoTexts is the one writer
 * of both texts, for a hall's hub and for a district's (hub/district/mosquitto.ts). Files are replaced atomically and made readable by the
 * mosquitto user, because Mosquitto started as root drops to that user before reading them.
 */

import { randomBytes, pbkdf2Sync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TOPIC_ROOT, topicFor } from '../../firmware/core/protocol.js';
import { intakeUsername, type Registry, type HubIdentity } from '../devices/registry.js';

/** What the files are written from: the registry, or an empty list before the first device. */
export type MosquittoSource = Pick<Registry, 'list' | 'mqttPassword'>;

export const PBKDF2_ITERATIONS = 101; // mosquitto 2's default for $7$
const SALT_BYTES = 12;
const HASH_BYTES = 64;

/** One password file line value: `$7$101$salt$hash`. */
export function mosquittoHash(password: string, salt: Buffer = randomBytes(SALT_BYTES), iterations = PBKDF2_ITERATIONS): string {
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Checks a password against a `$7$` entry (for tests and diagnostics). */
export function mosquittoVerify(password: string, entry: string): boolean {
  const [, seven, iterations, salt, hash] = entry.split('$');
  if (seven !== '7') return false;
  const given = pbkdf2Sync(password, Buffer.from(salt, 'base64'), Number(iterations), HASH_BYTES, 'sha512');
  return given.toString('base64') === hash;
}

export interface MosquittoFiles {
  passwordFile: string;
  aclFile: string;
}

export interface WriteOptions {
  dir: string;
  site: string;
  hub: HubIdentity;
  /** The user Mosquitto runs as; when we are root the files are given to it. */
  owner?: string;
}

/** uid and gid of a system user, from /etc/passwd (the hub gives Mosquitto's files to it). */
export function lookupUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    if (!line) return undefined;
    const parts = line.split(':');
    return { uid: Number(parts[2]), gid: Number(parts[3]) };
  } catch {
    return undefined;
  }
}

/**
 * Who will own Mosquitto's files, from settings mosquitto.user: a user name of this system, or
 * `uid:gid` numbers for a Mosquitto elsewhere (its container runs as 1883:1883, a user the hub's
 * container does not have). As root the hub gives the files to that user; otherwise it can only
 * give them that user's group, and only if it is a member (a host's service user in group
 * mosquitto). Undefined: the files stay the hub's own.
 */
export function mosquittoOwner(spec: string): { uid: number; gid: number } | undefined {
  const numeric = /^(\d+):(\d+)$/.exec(spec);
  const user = numeric ? { uid: Number(numeric[1]), gid: Number(numeric[2]) } : lookupUser(spec);
  if (!user) return undefined;
  if (process.getuid?.() === 0) return user;
  return process.getgroups?.().includes(user.gid) ? { uid: -1, gid: user.gid } : undefined;
}

/**
 * Replaces a file whole (temp + rename), so Mosquitto never reads half of one. Mode 0640: the
 * owner (Mosquitto, or the hub) reads and writes it, Mosquitto's group reads it, others nothing
 * (Mosquitto 2 warns of a world-readable password file, and later versions refuse one).
 */
export function writeAtomic(file: string, text: string, owner: { uid: number; gid: number } | undefined): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o640 });
  fs.chmodSync(tmp, 0o640); // whatever the umask
  if (owner) fs.chownSync(tmp, owner.uid, owner.gid);
  fs.renameSync(tmp, file);
}

/** Who may log in and where: the one text both a hall's hub and a district's hubs write from. */
export interface MosquittoUsers {
  hub: HubIdentity;
  /**
   * One hall: its site; the hub user gets everything under it and its intake user (hub/mqtt/intake.ts)
   * reads the site's evt topics. Undefined in a district: the hub users get all of TOPIC_ROOT.
   */
  site?: string;
  /** More hub user names sharing the hub's password (a district's hubs, registry.ts districtHubUsername). */
  hubUsers?: string[];
  /** Each device under its own site (a district's halls are sites of their own). */
  devices: { id: string; site: string; password: string }[];
  /** The ACL file's first line. */
  header: string;
}

/** The one writer of the password and ACL text. */
export function mosquittoTexts(users: MosquittoUsers): { passwd: string; acl: string } {
  const { hub, site, devices } = users;
  const hubUsers = users.hubUsers ?? [];
  const passwd = [`${hub.username}:${mosquittoHash(hub.password)}`];
  for (const d of devices) passwd.push(`${d.id}:${mosquittoHash(d.password)}`);
  passwd.push(`${intakeUsername(hub.username)}:${mosquittoHash(hub.password)}`);
  for (const u of hubUsers) passwd.push(`${u}:${mosquittoHash(hub.password)}`);
  const acl = [users.header, ''];
  const hubTopics = site === undefined ? `${TOPIC_ROOT}/#` : `${TOPIC_ROOT}/${site}/#`;
  for (const u of [hub.username, ...hubUsers]) acl.push(`user ${u}`, `topic readwrite ${hubTopics}`, '');
  if (site !== undefined) acl.push(`user ${intakeUsername(hub.username)}`, `topic read ${topicFor(site, '+', 'evt')}`, '');
  for (const d of devices) {
    acl.push(`user ${d.id}`,
      `topic write ${topicFor(d.site, d.id, 'evt')}`,
      `topic write ${topicFor(d.site, d.id, 'state')}`,
      `topic read ${topicFor(d.site, d.id, 'cmd')}`,
      `topic read ${topicFor(d.site, d.id, 'ack')}`, '');
  }
  return { passwd: passwd.join('\n') + '\n', acl: acl.join('\n') };
}

/** One hall's users: the registry's devices under its site. */
export function hallUsers(registry: MosquittoSource, site: string, hub: HubIdentity): MosquittoUsers {
  return {
    hub, site, header: '# written by the sannuo hub from its device registry; edits are overwritten',
    devices: registry.list().map((d) => ({ id: d.id, site, password: registry.mqttPassword(d.id)! })),
  };
}

export function aclFileText(registry: MosquittoSource, site: string, hub: HubIdentity): string {
  return mosquittoTexts(hallUsers(registry, site, hub)).acl;
}

export const NO_DEVICES: MosquittoSource = { list: () => [], mqttPassword: () => undefined };

/** Writes one hall's passwd and acl into `dir`; returns their paths. */
export function writeMosquittoFiles(registry: MosquittoSource, options: WriteOptions): MosquittoFiles {
  return writeMosquittoTexts(mosquittoTexts(hallUsers(registry, options.site, options.hub)), options.dir, options.owner);
}

/** Writes passwd and acl into `dir` (a hall's or a district's, see mosquittoTexts); returns their paths. */
export function writeMosquittoTexts(texts: { passwd: string; acl: string }, dir: string, ownerName = 'mosquitto'): MosquittoFiles {
  fs.mkdirSync(dir, { recursive: true });
  const owner = mosquittoOwner(ownerName);
  // The mosquitto user must be able to reach the files.
  fs.chmodSync(dir, 0o755);
  const files = { passwordFile: path.join(dir, 'passwd'), aclFile: path.join(dir, 'acl') };
  writeAtomic(files.passwordFile, texts.passwd, owner);
  writeAtomic(files.aclFile, texts.acl, owner);
  return files;
}

/** Asks a running Mosquitto to re-read its password and ACL files (SIGHUP), given its pid file. */
export function reloadMosquitto(pidFile: string): boolean {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 'SIGHUP');
    return true;
  } catch {
    return false;
  }
}

/** Whether Debian's mosquitto_passwd is installed (used by tests to cross-check our hashes). */
export function hasMosquittoPasswd(): boolean {
  try {
    execFileSync('which', ['mosquitto_passwd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * What the broker must do for the hub, in mosquitto.conf lines (deploy/mosquitto/mosquitto.conf
 * and the tests' broker both carry them; tests/hub/mqtt/mosquitto.test.ts checks the former):
 * - client ids are user names, so one device's credentials cannot take over another's session;
 * - sessions persist across a broker restart, and QoS 0 messages queue for a disconnected
 *   persistent client: the events pads send while the hub's session reconnects wait for it
 *   (with mqtt.persistentSession on the hub) instead of going to no subscriber;
 * - a session left by a hub that is gone for good expires;
 * - no packet larger than the protocol needs (64 KiB), a hall's burst after an outage room,
 *   Nagle off for small acks.
 */
export function mosquittoBrokerLines(options: { persistenceDir: string; autosaveSeconds?: number; persistentSession?: boolean }): string[] {
  const session = options.persistentSession ?? true;
  return [
    'use_username_as_clientid true',
    ...(session
      ? [
        'persistence true',
        `persistence_location ${options.persistenceDir.endsWith('/') ? options.persistenceDir : options.persistenceDir + '/'}`,
        `autosave_interval ${options.autosaveSeconds ?? 60}`,
        'queue_qos0_messages true',
        'persistent_client_expiration 1d',
      ]
      : ['persistence false']),
    // As the embedded broker's mqtt.maxPacketBytes: the protocol's largest message is 32 events of 1 KiB.
    'max_packet_size 65536',
    'max_inflight_messages 100',
    'max_queued_messages 100000',
    'set_tcp_nodelay true',
  ];
}

/**
 * Appointments (预约): slots per item with a capacity, booked by a booking site through an API
 * idempotent by the booking's id, checked in at the kiosk or by phone, cancelled, or missed.
 *
 * The merge rule (stated, and the one the tests hold): a booking checked in from `earlyMinutes`
 * before its slot starts until `graceMinutes` after is issued an 'appointment' ticket, which the
 * queue calls before elderly-disabled and normal walk-ins of the same item (its priority class),
 * in the order of check-in among appointments. Checked in later, it is 'late': a normal ticket,
 * behind the walk-ins already waiting. Not checked in by the end of the grace window, the
 * sweep marks it 'no-show'; a no-show who still arrives checks in late the same way.
 */

import type { Db } from '../db/db.js';
import { num, numOrNull, itemRow } from '../queue/views.js';
import { QueueError } from '../queue/types.js';

export type BookingStatus = 'booked' | 'checked-in' | 'late' | 'cancelled' | 'no-show';
export interface Slot { id: string; item: string; startsAt: number; endsAt: number; capacity: number; closed: boolean; booked: number }
export interface Booking { id: string; slot: string; item: string; status: BookingStatus; createdAt: number; checkedInAt: number | null; channel: string | null; ticket: string | null; priority: string | null }

interface SlotRow { id: string; item: string; starts_at: number; ends_at: number; capacity: number; closed: number }
interface BookingRow { id: string; slot: string; item: string; status: string; created_at: number; checked_in_at: number | null; channel: string | null; ticket: string | null; priority: string | null }

export interface AppointmentPolicy { earlyMinutes: number; graceMinutes: number }

export function bookingOut(r: BookingRow): Booking {
  return { id: r.id, slot: r.slot, item: r.item, status: r.status as BookingStatus, createdAt: num(r.created_at), checkedInAt: numOrNull(r.checked_in_at), channel: r.channel, ticket: r.ticket, priority: r.priority };
}

const HOLDS = `status IN ('booked', 'checked-in', 'late')`;

export async function slotById(db: Db, id: string): Promise<Slot | undefined> {
  const r = await db.get<SlotRow & { booked: number }>(`SELECT s.*, (SELECT COUNT(*) FROM day_bookings b WHERE b.slot = s.id AND b.${HOLDS}) AS booked FROM day_slots s WHERE s.id = $1`, [id]);
  return r ? { id: r.id, item: r.item, startsAt: num(r.starts_at), endsAt: num(r.ends_at), capacity: num(r.capacity), closed: num(r.closed) === 1, booked: num(r.booked) } : undefined;
}

export async function slotsBetween(db: Db, from: number, to: number): Promise<Slot[]> {
  const ids = await db.all<{ id: string }>(`SELECT id FROM day_slots WHERE starts_at >= $1 AND starts_at < $2 ORDER BY starts_at, item, id`, [from, to]);
  const out: Slot[] = [];
  for (const { id } of ids) out.push((await slotById(db, id))!);
  return out;
}

export async function putSlot(tx: Db, s: { id: string; item: string; startsAt: number; minutes: number; capacity: number; closed: boolean }, at: number): Promise<void> {
  if (!(await itemRow(tx, s.item))) throw new QueueError(400, `body.item: service item ${s.item} is not set up in this hall`, 'body.item');
  const held = await slotById(tx, s.id);
  if (held && held.booked > s.capacity) throw new QueueError(409, `body.capacity: slot ${s.id} already holds ${held.booked} bookings`, 'body.capacity');
  if (held && held.booked > 0 && (held.item !== s.item || held.startsAt !== s.startsAt)) throw new QueueError(409, `body.startsAt: slot ${s.id} has bookings; close it and open another instead of moving it`, 'body.startsAt');
  await tx.run(`INSERT INTO day_slots (id, item, starts_at, ends_at, capacity, closed, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (id) DO UPDATE SET item = $2, starts_at = $3, ends_at = $4, capacity = $5, closed = $6, updated_at = $7`,
    [s.id, s.item, s.startsAt, s.startsAt + s.minutes * 60_000, s.capacity, s.closed ? 1 : 0, at]);
}

export async function bookingById(db: Db, id: string): Promise<Booking | undefined> {
  const r = await db.get<BookingRow>(`SELECT * FROM day_bookings WHERE id = $1`, [id]);
  return r ? bookingOut(r) : undefined;
}

/** Which class a check-in at `at` gets for a slot starting at `startsAt`, or a refusal when too early. */
export function checkInClass(startsAt: number, at: number, p: AppointmentPolicy): 'appointment' | 'late' | 'early' {
  if (at < startsAt - p.earlyMinutes * 60_000) return 'early';
  return at <= startsAt + p.graceMinutes * 60_000 ? 'appointment' : 'late';
}

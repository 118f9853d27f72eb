/** What the two rollups (rollup.ts: counts per day; time-rollup.ts: time histograms per month) share. */

/** The app_state row holding the UTC offset (ms) both rollups are kept for; absent until built. */
export const ROLLUP_OFFSET = 'rollup.offsetMs';

/**
 * A PostgreSQL trigger function `name` around `body` (under `create`: CREATE or CREATE OR
 * REPLACE FUNCTION); it writes nothing until the rollup's offset is set.
 */
export function postgresFunction(create: string, name: string, body: string): string {
  return `
${create} ${name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE offset_ms BIGINT;
BEGIN
  SELECT value INTO offset_ms FROM app_state WHERE name = '${ROLLUP_OFFSET}';
  IF offset_ms IS NULL THEN RETURN NULL; END IF;
  ${body}
  RETURN NULL;
END
$fn$`;
}

/** The app_state row holding the UTC offset (ms) both rollups are kept for; absent until built. */
export const ROLLUP_OFFSET = 'rollup.offsetMs';

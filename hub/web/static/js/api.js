// The dashboard's only door to the hub. Same origin, session cookie (HttpOnly) set by
// POST /api/auth/login. Errors carry the hub's { error, message, field } and the status.

export class ApiError extends Error {
  constructor(status, body, path) {
    super(body?.message ?? `${path}: HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.path = path;
  }
}

let onUnauthenticated = () => {};
export function whenSignedOut(fn) { onUnauthenticated = fn; }

export async function api(path, { method = 'GET', body, quiet401 = false } = {}) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = { message: text }; }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthenticated();
    throw new ApiError(res.status, json, path);
  }
  return json;
}

/** The two REST calls the SDK makes itself: `POST /api/login` and `POST /api/logout`. */
import { CallboardError } from './errors';

export interface Session {
  token: string;
  userId: string;
  domain: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

/** Log in with a username (`name` or `name@domain`) and password. */
export async function login(
  fetcher: FetchLike,
  server: string,
  credentials: { username: string; password: string; domain?: string },
): Promise<Session> {
  const body: Record<string, string> = { username: credentials.username, password: credentials.password };
  if (credentials.domain) body.domain = credentials.domain;
  const response = await call(fetcher, `${server}/api/login`, { 'Content-Type': 'application/json' }, JSON.stringify(body));
  const data = response as { access_token: string; user_id: string; domain: string; expires_at: string };
  return { token: data.access_token, userId: data.user_id, domain: data.domain, expiresAt: Number(data.expires_at) };
}

/** End the login session of `token`. */
export async function logout(fetcher: FetchLike, server: string, token: string): Promise<void> {
  await call(fetcher, `${server}/api/logout`, { 'X-Webitel-Access': token });
}

async function call(fetcher: FetchLike, url: string, headers: Record<string, string>, body?: string): Promise<unknown> {
  let response;
  try {
    response = await fetcher(url, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  } catch (error) {
    throw CallboardError.sdk('unreachable', `cannot reach ${url}: ${error instanceof Error ? error.message : String(error)}`, 503);
  }
  if (response.status === 204) return null;
  let data: unknown = null;
  try {
    data = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) {
    throw CallboardError.from(data ?? { id: 'app.http', status: 'Error', detail: `HTTP ${response.status}`, code: response.status });
  }
  return data;
}

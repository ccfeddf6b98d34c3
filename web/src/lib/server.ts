// How server code reaches the API for the logged-in user: pages read (and on a refused token go to the
// refresh route and back), route handlers and server actions act (refreshing inline and saving the cookie).
import "server-only";

import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";

import { ApiError, apiBaseUrl, createApi, unwrap, type ApiClient, type SessionLink } from "./api";
import { loginPath } from "./safe-next";
import { SESSION_COOKIE, cookieOptions, sealSession, unsealSession, type SessionData } from "./session";
import type { Me } from "./types";

type Result<T> = { data?: T; error?: unknown; response: Response };

export type Loaded<T> = { ok: true; data: T } | { ok: false; status: number; message: string };

/** The path being rendered (set by the proxy), to come back to after a login. */
export async function currentPath(): Promise<string> {
  return (await headers()).get("x-console-path") ?? "/";
}

export const getSession = cache(async (): Promise<SessionData | null> => {
  return unsealSession((await cookies()).get(SESSION_COOKIE)?.value);
});

/** For server components: a page cannot write a cookie, so its client never refreshes (the proxy did). */
const pageApi = cache(async (): Promise<ApiClient> => {
  const session = await getSession();
  if (!session) redirect(loginPath(await currentPath()));
  return createApi({ tokens: session.tokens, refresh: false });
});

/** A page's data, or what went wrong in words (shown in place of that part of the page). A refused token
 * goes through the refresh route and back to this page, or to the login when the session is over. */
export async function load<T>(call: (api: ApiClient) => Promise<Result<T>>): Promise<Loaded<T>> {
  const api = await pageApi();
  try {
    return { ok: true, data: await unwrap(call(api)) };
  } catch (error) {
    if (error instanceof ApiError) {
      if (error.status === 401) {
        redirect(`/api/session/refresh?next=${encodeURIComponent(await currentPath())}`);
      }
      return { ok: false, status: error.status, message: error.message };
    }
    throw error;
  }
}

/** The caller and the role they act with, once per request. */
export const getMe = cache(async (): Promise<Loaded<Me>> => load((api) => api.GET("/users/me")));

export interface Acting {
  api: ApiClient;
  /** Write the session cookie again if a call refreshed the tokens (or end it if the login is over). */
  save: () => Promise<void>;
  /** Whether the login ended during the calls (a refused refresh). */
  ended: () => boolean;
}

/** For route handlers and server actions: a client that refreshes when needed, and saves the new pair. */
export async function acting(): Promise<Acting | null> {
  const jar = await cookies();
  const session = await unsealSession(jar.get(SESSION_COOKIE)?.value);
  if (!session) return null;
  const options = cookieOptions({ headers: await headers() });
  const initial = session.tokens;
  const link: SessionLink = { tokens: initial };
  return {
    api: createApi(link),
    ended: () => link.tokens === null,
    save: async () => {
      if (link.tokens === initial) return;
      if (link.tokens) jar.set(SESSION_COOKIE, await sealSession({ tokens: link.tokens }), options);
      else jar.delete(SESSION_COOKIE);
    },
  };
}

export type ActionResult<T = undefined> =
  | { ok: true; message: string; data?: T }
  | { ok: false; message: string; fields: Record<string, string> };

/** A server action's call to the API: its data, or the refusal with its reasons (per field for a 422).
 * No session, or one the API no longer accepts, goes to the login and back to the page. */
export async function act<T>(
  call: (api: ApiClient) => Promise<Result<T>>,
): Promise<{ ok: true; data: T } | { ok: false; error: ApiError }> {
  const session = await acting();
  if (!session) redirect(loginPath(await currentPath(), "log in to do that"));
  try {
    const data = await unwrap(call(session.api), apiBaseUrl());
    await session.save();
    return { ok: true, data };
  } catch (error) {
    await session.save();
    if (error instanceof ApiError) {
      if (error.status === 401) redirect(loginPath(await currentPath(), "your session ended: log in again"));
      return { ok: false, error };
    }
    throw error;
  }
}

export function refused(error: ApiError, prefix?: string): ActionResult<never> {
  const message = error.status === 403 ? `not allowed: ${error.message}` : error.message;
  return { ok: false, message: prefix ? `${prefix}: ${message}` : message, fields: { ...error.fields } };
}

/** The transport: one fetch per call, the bearer token on every request, errors as JobdeckApiError. */

import { JobdeckApiError, errorFromResponse } from "./errors.js";

export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;
export type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue> | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
}

export interface Transport {
  readonly baseUrl: string;
  url(path: string, query?: Record<string, QueryValue>): string;
  headers(extra?: Record<string, string>): Promise<Record<string, string>>;
  fetch: FetchLike;
  setToken(token: string | null): void;
}

export function createTransport(options: {
  baseUrl: string;
  token?: string | null | undefined;
  getToken?: TokenSource | undefined;
  fetch?: FetchLike | undefined;
  headers?: Record<string, string> | undefined;
}): Transport {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let staticToken = options.token ?? null;
  const getToken = options.getToken;

  return {
    baseUrl,
    fetch: fetchImpl,
    setToken(token) {
      staticToken = token;
    },
    url(path, query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query ?? {})) {
        if (value !== undefined && value !== null) params.append(key, String(value));
      }
      const search = params.toString();
      return `${baseUrl}${path}${search ? `?${search}` : ""}`;
    },
    async headers(extra) {
      const token = getToken ? await getToken() : staticToken;
      return {
        accept: "application/json",
        ...options.headers,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...extra,
      };
    },
  };
}

/** A segment of a path, escaped (`jobId`, `executionId`). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Send one request and return the parsed success envelope; throw JobdeckApiError for anything else. */
export async function call<T>(
  transport: Transport,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const headers = await transport.headers(options.headers);
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  if (options.signal) init.signal = options.signal;
  let response: Response;
  try {
    response = await transport.fetch(transport.url(path, options.query), init);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new JobdeckApiError({
      status: 0,
      code: "network_error",
      message: `${method} ${path} failed: ${reason}`,
      cause,
    });
  }
  const requestId = response.headers.get("x-request-id");
  const body = await readBody(response);
  if (!response.ok) throw errorFromResponse(response.status, body, requestId);
  if (typeof body !== "object" || body === null || (body as { success?: unknown }).success !== true) {
    if (typeof body === "object" && body !== null && (body as { success?: unknown }).success === false) {
      throw errorFromResponse(response.status, body, requestId);
    }
    throw new JobdeckApiError({
      status: response.status,
      code: "invalid_response",
      message: `${method} ${path}: the answer is not a jobdeck envelope`,
      requestId,
      body,
    });
  }
  return body as T;
}

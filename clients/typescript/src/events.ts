/**
 * A Server-Sent Events reader over fetch. `EventSource` cannot send an Authorization header, so the stream is read
 * with fetch and parsed here, following the WHATWG event-stream rules (fields, comments, multi-line data, ids).
 */

import { JobdeckApiError, errorFromResponse } from "./errors.js";
import type { Transport } from "./http.js";

/** One message of the stream as sent: `event` defaults to "message"; `json` is `data` parsed, when it is JSON. */
export interface ServerSentEvent {
  event: string;
  data: string;
  id: string | null;
  retry: number | null;
  json: unknown;
}

export interface StreamOptions {
  /** Abort to close the stream; the pending iteration then rejects with the abort reason. */
  signal?: AbortSignal | undefined;
  /** Resume after this id (sent as `Last-Event-ID`). */
  lastEventId?: string | undefined;
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/** Parses event-stream text fed in arbitrary chunks into events. */
export class EventStreamParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;
  private retry: number | null = null;
  private lastId: string | null = null;

  /** Feed a chunk of text; returns the events it completed. */
  push(chunk: string): ServerSentEvent[] {
    this.buffer += chunk;
    const out: ServerSentEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for more.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): ServerSentEvent | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }

  private dispatch(): ServerSentEvent | null {
    if (this.id !== null) this.lastId = this.id;
    const hadData = this.data.length > 0;
    const event: ServerSentEvent = {
      event: this.event || "message",
      data: this.data.join("\n"),
      id: this.lastId,
      retry: this.retry,
      json: undefined,
    };
    this.event = "";
    this.data = [];
    this.id = null;
    if (!hadData) return null;
    event.json = parseJson(event.data);
    return event;
  }
}

/** Open `path` as an event stream and yield its events until the server ends it (or the caller stops). */
export async function* readEventStream(
  transport: Transport,
  path: string,
  options: StreamOptions = {},
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const headers = await transport.headers({
    accept: "text/event-stream",
    ...(options.lastEventId ? { "last-event-id": options.lastEventId } : {}),
  });
  const init: RequestInit = { method: "GET", headers };
  if (options.signal) init.signal = options.signal;
  let response: Response;
  try {
    response = await transport.fetch(transport.url(path), init);
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new JobdeckApiError({ status: 0, code: "network_error", message: `GET ${path} failed: ${reason}`, cause });
  }
  if (!response.ok) {
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      // not JSON: keep the text
    }
    throw errorFromResponse(response.status, body, response.headers.get("x-request-id"));
  }
  if (!response.body) {
    throw new JobdeckApiError({ status: response.status, code: "invalid_response", message: "the stream has no body" });
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new EventStreamParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode() + "\n\n");
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

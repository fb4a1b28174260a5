/** The one error class the client throws: an error envelope from the server, or a failure to get one. */

/** A field-level problem of a 422 answer (`data.errors` of the envelope). */
export interface FieldError {
  field: string;
  message: string;
  type: string;
}

export interface JobdeckApiErrorInit {
  status: number;
  code: string;
  message: string;
  requestId?: string | null | undefined;
  fieldErrors?: FieldError[] | undefined;
  body?: unknown;
  cause?: unknown;
}

/**
 * Thrown for every failed call. `status` is the HTTP status (0 when no answer arrived: network error, abort,
 * or a body that is not JSON); `code` is the envelope's machine-readable code (`job_not_found`,
 * `job_already_running`, `validation_error` …, or `network_error` / `invalid_response` from the client itself);
 * `requestId` is the id the server logged the request under.
 */
export class JobdeckApiError extends Error {
  override readonly name = "JobdeckApiError";
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  /** The field errors of a 422 answer; empty otherwise. */
  readonly fieldErrors: FieldError[];
  /** The parsed response body, when there was one. */
  readonly body: unknown;

  constructor(init: JobdeckApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId ?? null;
    this.fieldErrors = init.fieldErrors ?? [];
    this.body = init.body;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fieldErrorsOf(data: unknown): FieldError[] {
  if (!isRecord(data) || !Array.isArray(data["errors"])) return [];
  return data["errors"].filter(isRecord).map((e) => ({
    field: String(e["field"] ?? ""),
    message: String(e["message"] ?? ""),
    type: String(e["type"] ?? ""),
  }));
}

/** The error for a non-2xx answer (or a 2xx whose envelope says `success: false`). */
export function errorFromResponse(status: number, body: unknown, headerRequestId: string | null): JobdeckApiError {
  if (isRecord(body) && typeof body["message"] === "string") {
    const requestId = typeof body["request_id"] === "string" ? body["request_id"] : headerRequestId;
    return new JobdeckApiError({
      status,
      code: typeof body["code"] === "string" ? body["code"] : "http_error",
      message: body["message"],
      requestId,
      fieldErrors: fieldErrorsOf(body["data"]),
      body,
    });
  }
  return new JobdeckApiError({
    status,
    code: "http_error",
    message: `HTTP ${status}${typeof body === "string" && body ? `: ${body.slice(0, 200)}` : ""}`,
    requestId: headerRequestId,
    body,
  });
}

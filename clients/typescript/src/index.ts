/**
 * @jobdeck/client — the original frontend's `scheduler.ts` functions (same names, parameters and defaults, each
 * resolving to the response envelope `{success, data, message, timestamp, request_id}` as before) plus jobdeck's
 * additions. Types come from `schema.ts`, generated from the server's OpenAPI document.
 */

import { readEventStream, type ServerSentEvent, type StreamOptions } from "./events.js";
import { call, createTransport, segment, type FetchLike, type TokenSource } from "./http.js";
import type { components, operations } from "./schema.js";

export { JobdeckApiError, type FieldError } from "./errors.js";
export { EventStreamParser, type ServerSentEvent, type StreamOptions } from "./events.js";
export type { FetchLike, TokenSource } from "./http.js";
export type { components, operations, paths } from "./schema.js";

type Schemas = components["schemas"];

type JsonBody<R> = R extends { content: { "application/json": infer Body } } ? Body : never;
/** The success envelope of an operation, as the server's OpenAPI document declares it. */
export type ApiResponse<Op extends keyof operations> = JsonBody<operations[Op]["responses"][200]>;
/** The query parameters of an operation. */
export type QueryOf<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

export type Job = Schemas["JobOut"];
export type JobDetail = Schemas["JobDetailOut"];
export type JobExecution = Schemas["ExecutionOut"];
export type ExecutionDetail = Schemas["ExecutionDetailOut"];
export type ExecutionPage = Schemas["ExecutionPage"];
export type ExecutionStatus = Schemas["ExecutionStatus"];
export type JobHistory = Schemas["AuditOut"];
export type HistoryPage = Schemas["AuditPage"];
export type JobExecutionStats = Schemas["ExecutionStatsOut"];
export type SchedulerStats = Schemas["StatsOut"];
export type SchedulerHealth = Schemas["HealthOut"];
export type MetadataUpdate = Schemas["MetadataIn"];
export type AccessToken = Schemas["TokenOut"];
export type CurrentUser = Schemas["UserOut"];
export type ErrorEnvelope = Schemas["ErrorEnvelope"];
export type SchedulePreview = Schemas["SchedulePreviewOut"];
export type LogPage = Schemas["LogPageOut"];
export type LogLine = Schemas["LogLineOut"];
export type RetryLink = Schemas["RetryLinkOut"];

/** What a `change` event of the events stream carries: what changed (ids), never the new values. */
export interface ChangeEvent {
  kind: "execution" | "job" | "log" | "resync" | (string & {});
  action: string;
  at: string;
  job_id: string | null;
  execution_ids: string[];
  status: string | null;
}

/** The original client's default reason for markExecutionFailed ("marked failed by the user"). */
export const DEFAULT_MARK_FAILED_REASON = "用户手动标记为失败";

export interface ClientOptions {
  /** The server's origin, e.g. `https://jobs.example.com` (no trailing `/api`). */
  baseUrl: string;
  /** A bearer token: an access token from `login`, or an API token (`jd_…`). */
  token?: string | null;
  /** Called before every request for the current token (takes precedence over `token`). */
  getToken?: TokenSource;
  /** A fetch implementation (default: the global one). */
  fetch?: FetchLike;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
}

export interface TriggerOptions {
  /** Keyword arguments for this run only (the job's configuration is unchanged). */
  kwargs?: Record<string, unknown>;
  /** A repeated trigger with the same key (per job, within 24 h) returns the first run instead of a new one. */
  idempotencyKey?: string;
}

export interface PauseOptions {
  /** Timed pause: the job resumes by itself at this instant (ISO 8601 with offset, or a Date). */
  until?: string | Date;
}

export interface JobdeckClient {
  readonly baseUrl: string;
  /** Replace the static token (e.g. after `login`); `getToken`, when given, still wins. */
  setToken(token: string | null): void;

  // -- the original scheduler.ts ------------------------------------------------------------------------------
  getJobs(): Promise<ApiResponse<"getJobs">>;
  getJobDetail(jobId: string): Promise<ApiResponse<"getJobDetail">>;
  pauseJob(jobId: string, options?: PauseOptions): Promise<ApiResponse<"pauseJob">>;
  resumeJob(jobId: string): Promise<ApiResponse<"resumeJob">>;
  /** Run once now. `force` defaults to true, as in the original client; `false` answers 409 while runs go. */
  triggerJob(jobId: string, force?: boolean, options?: TriggerOptions): Promise<ApiResponse<"triggerJob">>;
  getJobHistory(jobId: string, params?: QueryOf<"getJobHistory">): Promise<ApiResponse<"getJobHistory">>;
  getAllHistory(params?: QueryOf<"getAllHistory">): Promise<ApiResponse<"getAllHistory">>;
  getSchedulerStats(): Promise<ApiResponse<"getSchedulerStats">>;
  getSchedulerHealth(): Promise<ApiResponse<"getSchedulerHealth">>;
  updateJobMetadata(jobId: string, data: MetadataUpdate): Promise<ApiResponse<"updateJobMetadata">>;
  getJobExecutions(params?: QueryOf<"getJobExecutions">): Promise<ApiResponse<"getJobExecutions">>;
  getSingleJobExecutions(
    jobId: string,
    params?: QueryOf<"getSingleJobExecutions">,
  ): Promise<ApiResponse<"getSingleJobExecutions">>;
  getJobExecutionStats(jobId: string): Promise<ApiResponse<"getJobExecutionStats">>;
  cancelExecution(executionId: string): Promise<ApiResponse<"cancelExecution">>;
  /** Close a running execution as failed; `reason` defaults to the original client's text. */
  markExecutionFailed(executionId: string, reason?: string): Promise<ApiResponse<"markExecutionFailed">>;
  deleteExecution(executionId: string): Promise<ApiResponse<"deleteExecution">>;

  // -- jobdeck's additions --------------------------------------------------------------------------------------
  login(username: string, password: string): Promise<ApiResponse<"login">>;
  getMe(): Promise<ApiResponse<"getMe">>;
  getExecution(executionId: string): Promise<ApiResponse<"getExecution">>;
  /** The run's log incrementally: pass the previous answer's `last_seq` as `after` to get only newer lines. */
  getExecutionLog(executionId: string, params?: QueryOf<"getExecutionLog">): Promise<ApiResponse<"getExecutionLog">>;
  updateJobSchedule(jobId: string, schedule: string): Promise<ApiResponse<"updateJobSchedule">>;
  resetJobSchedule(jobId: string): Promise<ApiResponse<"resetJobSchedule">>;
  /** Check a schedule string and compute its next fire times, changing nothing (422 naming `schedule` if bad). */
  previewSchedule(params: QueryOf<"previewSchedule">): Promise<ApiResponse<"previewSchedule">>;
  /** The raw Server-Sent Events of `/api/scheduler/events` (`hello`, then one `change` per change). */
  streamEvents(options?: StreamOptions): AsyncGenerator<ServerSentEvent, void, undefined>;
  /** Only the `change` events, parsed. */
  changes(options?: StreamOptions): AsyncGenerator<ChangeEvent, void, undefined>;
}

/** A client for one jobdeck server. Its methods are plain functions: destructuring them is fine. */
export function createClient(options: ClientOptions): JobdeckClient {
  const t = createTransport(options);
  const job = (jobId: string): string => `/api/scheduler/jobs/${segment(jobId)}`;
  const run = (executionId: string): string => `/api/scheduler/executions/${segment(executionId)}`;

  const streamEvents = (stream?: StreamOptions): AsyncGenerator<ServerSentEvent, void, undefined> =>
    readEventStream(t, "/api/scheduler/events", stream);

  async function* changes(stream?: StreamOptions): AsyncGenerator<ChangeEvent, void, undefined> {
    for await (const message of streamEvents(stream)) {
      if (message.event === "change" && message.json !== undefined) yield message.json as ChangeEvent;
    }
  }

  return {
    baseUrl: t.baseUrl,
    setToken: (token) => t.setToken(token),

    getJobs: () => call(t, "GET", "/api/scheduler/jobs"),
    getJobDetail: (jobId) => call(t, "GET", job(jobId)),
    pauseJob: (jobId, pause = {}) =>
      call(t, "POST", `${job(jobId)}/pause`, {
        query: { until: pause.until instanceof Date ? pause.until.toISOString() : pause.until },
      }),
    resumeJob: (jobId) => call(t, "POST", `${job(jobId)}/resume`),
    triggerJob: (jobId, force = true, trigger = {}) =>
      call(t, "POST", `${job(jobId)}/trigger`, {
        query: { force },
        body: trigger.kwargs === undefined ? undefined : { kwargs: trigger.kwargs },
        headers: trigger.idempotencyKey === undefined ? undefined : { "idempotency-key": trigger.idempotencyKey },
      }),
    getJobHistory: (jobId, params) => call(t, "GET", `${job(jobId)}/history`, { query: params }),
    getAllHistory: (params) => call(t, "GET", "/api/scheduler/history", { query: params }),
    getSchedulerStats: () => call(t, "GET", "/api/scheduler/stats"),
    getSchedulerHealth: () => call(t, "GET", "/api/scheduler/health"),
    updateJobMetadata: (jobId, data) => call(t, "PUT", `${job(jobId)}/metadata`, { body: data }),
    getJobExecutions: (params) => call(t, "GET", "/api/scheduler/executions", { query: params }),
    getSingleJobExecutions: (jobId, params) => call(t, "GET", `${job(jobId)}/executions`, { query: params }),
    getJobExecutionStats: (jobId) => call(t, "GET", `${job(jobId)}/execution-stats`),
    cancelExecution: (executionId) => call(t, "POST", `${run(executionId)}/cancel`),
    markExecutionFailed: (executionId, reason) =>
      call(t, "POST", `${run(executionId)}/mark-failed`, {
        query: { reason: reason || DEFAULT_MARK_FAILED_REASON },
      }),
    deleteExecution: (executionId) => call(t, "DELETE", run(executionId)),

    login: (username, password) => call(t, "POST", "/api/auth/login", { body: { username, password } }),
    getMe: () => call(t, "GET", "/api/auth/me"),
    getExecution: (executionId) => call(t, "GET", run(executionId)),
    getExecutionLog: (executionId, params) => call(t, "GET", `${run(executionId)}/log`, { query: params }),
    updateJobSchedule: (jobId, schedule) => call(t, "PUT", `${job(jobId)}/schedule`, { body: { schedule } }),
    resetJobSchedule: (jobId) => call(t, "DELETE", `${job(jobId)}/schedule`),
    previewSchedule: (params) => call(t, "GET", "/api/scheduler/schedules/preview", { query: params }),
    streamEvents,
    changes,
  };
}

/**
 * Every function of @jobdeck/client against a live `jobdeck serve` (started by tests/clients/test_typescript.py,
 * which passes JOBDECK_URL, JOBDECK_ADMIN_TOKEN, JOBDECK_VIEWER_TOKEN and JOBDECK_ADMIN_PASSWORD).
 * The server has three jobs: `walker` (progress and log lines), `echo` (returns its kwargs) and `boom` (fails).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  DEFAULT_MARK_FAILED_REASON,
  EventStreamParser,
  JobdeckApiError,
  createClient,
  type ChangeEvent,
  type ExecutionDetail,
  type JobdeckClient,
} from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/clients/test_typescript.py`);
  return value;
}

const baseUrl = env("JOBDECK_URL");
const admin = createClient({ baseUrl, token: env("JOBDECK_ADMIN_TOKEN") });
const viewer = createClient({ baseUrl, getToken: async () => env("JOBDECK_VIEWER_TOKEN") });
const spec = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url), "utf8")) as {
  paths: Record<string, unknown>;
};

const TERMINAL = new Set(["success", "failed", "cancelled", "missed", "skipped"]);

/** Poll an execution until `done` holds, failing with the last value seen after `timeoutMs`. */
async function waitFor(
  client: JobdeckClient,
  executionId: string,
  done: (e: ExecutionDetail) => boolean = (e) => TERMINAL.has(e.status),
  timeoutMs = 10_000,
): Promise<ExecutionDetail> {
  const deadline = Date.now() + timeoutMs;
  let last: ExecutionDetail | undefined;
  while (Date.now() < deadline) {
    last = (await client.getExecution(executionId)).data;
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`execution ${executionId} not done after ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

async function rejection(promise: Promise<unknown>): Promise<JobdeckApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof JobdeckApiError, `expected JobdeckApiError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("the original scheduler.ts functions", () => {
  test("getJobs and getJobDetail resolve to the envelope with the jobs", async () => {
    const res = await admin.getJobs();
    assert.equal(res.success, true);
    assert.ok(res.request_id && res.timestamp);
    assert.deepEqual(res.data.map((j) => j.id).sort(), ["boom", "echo", "walker"]);
    const detail = (await admin.getJobDetail("echo")).data;
    assert.deepEqual(detail.kwargs, { label: "configured" });
    assert.equal(detail.next_run_times.length, 5);
    assert.match(detail.next_run_times[0] ?? "", /\+08:00$/);
  });

  test("pauseJob and resumeJob", async () => {
    assert.equal((await admin.pauseJob("echo")).data.paused, true);
    assert.equal((await admin.getJobDetail("echo")).data.paused, true);
    const resumed = await admin.resumeJob("echo");
    assert.equal(resumed.data.paused, false);
    assert.match(resumed.message, /resumed/);
  });

  test("triggerJob defaults to force=true as the original did, and passes kwargs", async () => {
    const started = (await admin.triggerJob("echo")).data;
    assert.equal(started.force, true);
    assert.equal(started.status, "running");
    assert.equal(started._id, started.id);
    const done = await waitFor(admin, started.id);
    assert.equal(done.return_value, '{"label": "configured", "force": true}');
    const plain = (await admin.triggerJob("echo", false, { kwargs: { label: "ts" } })).data;
    assert.equal((await waitFor(admin, plain.id)).return_value, '{"label": "ts", "force": false}');
  });

  test("getJobHistory and getAllHistory page the audit trail", async () => {
    await admin.pauseJob("walker");
    await admin.resumeJob("walker");
    const mine = (await admin.getJobHistory("walker", { limit: 1 })).data;
    assert.equal(mine.limit, 1);
    assert.equal(mine.history.length, 1);
    assert.equal(mine.history[0]?.action, "resume");
    assert.ok(mine.total >= 2);
    const all = (await admin.getAllHistory({ job_id: "walker", status: "success", limit: 50, offset: 0 })).data;
    assert.ok(all.history.every((h) => h.job_id === "walker" && h.status === "success"));
    assert.ok(all.history.some((h) => h.action === "pause"));
  });

  test("getSchedulerStats and getSchedulerHealth", async () => {
    const stats = (await viewer.getSchedulerStats()).data;
    assert.equal(stats.total_jobs, 3);
    assert.equal(stats.scheduler_running, true);
    // The original scheduler.ts types these as numbers (APScheduler's states): 1 is running.
    const state: number = stats.scheduler_state;
    assert.equal(state, 1);
    assert.equal(stats.scheduler_state_name, "running");
    const health = (await viewer.getSchedulerHealth()).data;
    assert.equal(health.status, "healthy");
    const healthState: number = health.state;
    assert.equal(healthState, 1);
    assert.equal(health.state_name, "running");
    assert.equal(health.store.ok, true);
  });

  test("updateJobMetadata: empty string clears, absent leaves", async () => {
    const job = (await admin.updateJobMetadata("walker", { display_name: "Walker TS", description: "" })).data;
    assert.equal(job.display_name, "Walker TS");
    assert.equal(job.description, "");
    const again = (await admin.updateJobMetadata("walker", { description: "kept name" })).data;
    assert.equal(again.display_name, "Walker TS");
    assert.equal(again.description, "kept name");
  });

  test("a run's life: trigger, executions lists, stats, progress and log", async () => {
    const run = (await admin.triggerJob("walker", true, { kwargs: { items: 3, delay: 0.02 } })).data;
    const done = await waitFor(admin, run.id);
    assert.equal(done.status, "success");
    assert.equal(done.return_value, '{"walked": 3}');
    assert.equal(done.progress, 100);
    assert.deepEqual(
      done.log.map((line) => line.message),
      ["step 0", "step 1", "step 2"],
    );
    const page = (await admin.getJobExecutions({ job_id: "walker", status: "success", is_manual: true, limit: 5 }))
      .data;
    assert.equal(page.limit, 5);
    assert.ok(page.items.some((e) => e.id === run.id));
    const single = (await admin.getSingleJobExecutions("walker", { is_manual: true, since: run.started_at })).data;
    assert.deepEqual(
      single.items.map((e) => e.id),
      [run.id],
    );
    const stats = (await admin.getJobExecutionStats("walker")).data;
    assert.ok(stats.success >= 1);
    assert.equal(stats.last_execution?.status, "success");
  });

  test("cancelExecution stops a running run; a second cancel is a 409", async () => {
    const run = (await admin.triggerJob("walker", true, { kwargs: { items: 400, delay: 0.05 } })).data;
    const cancelled = (await admin.cancelExecution(run.id)).data;
    assert.equal(cancelled.cancel_requested, true);
    assert.equal((await waitFor(admin, run.id)).status, "cancelled");
    const error = await rejection(admin.cancelExecution(run.id));
    assert.equal(error.status, 409);
    assert.equal(error.code, "execution_not_running");
  });

  test("markExecutionFailed uses the original's default reason; deleteExecution removes a finished run", async () => {
    const run = (await admin.triggerJob("walker", true, { kwargs: { items: 400, delay: 0.05 } })).data;
    const stillRunning = await rejection(admin.deleteExecution(run.id));
    assert.equal(stillRunning.status, 409);
    assert.equal(stillRunning.code, "execution_running");
    const failed = (await admin.markExecutionFailed(run.id)).data;
    assert.equal(failed.status, "failed");
    assert.equal(failed.error_message, DEFAULT_MARK_FAILED_REASON);
    const another = (await admin.triggerJob("walker", true, { kwargs: { items: 400, delay: 0.05 } })).data;
    assert.equal((await admin.markExecutionFailed(another.id, "stuck")).data.error_message, "stuck");
    const deleted = await admin.deleteExecution(run.id);
    assert.equal(deleted.data, null);
    const gone = await rejection(admin.getExecution(run.id));
    assert.equal(gone.status, 404);
    assert.equal(gone.code, "execution_not_found");
  });
});

describe("jobdeck's additions", () => {
  test("login then getMe, with setToken", async () => {
    const client = createClient({ baseUrl });
    const token = (await client.login("admin", env("JOBDECK_ADMIN_PASSWORD"))).data;
    assert.equal(token.token_type, "bearer");
    assert.ok(token.expires_in > 0);
    client.setToken(token.access_token);
    assert.deepEqual((await client.getMe()).data, { username: "admin", role: "admin", via: "password" });
    const wrong = await rejection(client.login("admin", "wrong-password"));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.code, "invalid_credentials");
  });

  test("getExecutionLog pages the log incrementally; an idempotency key returns the first run", async () => {
    const options = { kwargs: { items: 4, delay: 0.01 }, idempotencyKey: "ts-client-test-key" };
    const run = (await admin.triggerJob("walker", true, options)).data;
    assert.equal((await admin.triggerJob("walker", true, options)).data.id, run.id);
    await waitFor(admin, run.id);
    const first = (await admin.getExecutionLog(run.id, { after: 0, limit: 2 })).data;
    assert.deepEqual(
      first.lines.map((l) => l.message),
      ["step 2", "step 3"],
    );
    const rest = (await admin.getExecutionLog(run.id, { after: first.last_seq })).data;
    assert.deepEqual(rest.lines, []);
    assert.equal(rest.status, "success");
  });

  test("pauseJob with until: a timed pause, cleared by resume", async () => {
    const until = new Date(Date.now() + 3_600_000);
    const paused = (await admin.pauseJob("echo", { until })).data;
    assert.equal(paused.paused, true);
    assert.ok(Math.abs(Date.parse(paused.paused_until ?? "") - until.getTime()) < 1000);
    assert.equal((await admin.resumeJob("echo")).data.paused_until, null);
  });

  test("getExecution includes the log; a failing job's error is kept", async () => {
    const run = (await admin.triggerJob("boom")).data;
    const done = await waitFor(admin, run.id);
    assert.equal(done.status, "failed");
    assert.match(done.error_message ?? "", /boom on purpose/);
    assert.ok(Array.isArray(done.log));
  });

  test("updateJobSchedule and resetJobSchedule; an invalid schedule is a 422 naming the field", async () => {
    const set = (await admin.updateJobSchedule("echo", "30 6 * * *")).data;
    assert.equal(set.schedule, "30 6 * * *");
    assert.equal(set.schedule_overridden, true);
    const reset = (await admin.resetJobSchedule("echo")).data;
    assert.equal(reset.schedule, reset.configured_schedule);
    assert.equal(reset.schedule_overridden, false);
    const error = await rejection(admin.updateJobSchedule("echo", "61 * * * *"));
    assert.equal(error.status, 422);
    assert.equal(error.fieldErrors[0]?.field, "schedule");
  });

  test("previewSchedule shows next fire times; a bad schedule is a 422 naming the field", async () => {
    const preview = (await viewer.previewSchedule({ schedule: "every 5m", timezone: "UTC", count: 3 })).data;
    assert.equal(preview.valid, true);
    assert.equal(preview.next_run_times.length, 3);
    assert.equal(preview.kind, "interval");
    const error = await rejection(viewer.previewSchedule({ schedule: "61 * * * *" }));
    assert.equal(error.status, 422);
    assert.equal(error.fieldErrors[0]?.field, "schedule");
  });

  test("the events stream yields a change for a trigger", { timeout: 20_000 }, async (t) => {
    if (!("/api/scheduler/events" in spec.paths)) {
      t.skip("this server has no events stream");
      return;
    }
    const controller = new AbortController();
    const seen: ChangeEvent[] = [];
    const stream = admin.streamEvents({ signal: controller.signal });
    // The server's "hello" comes once this stream is subscribed: a trigger after it cannot be missed.
    const hello = await stream.next();
    assert.equal(hello.done ? undefined : hello.value.event, "hello");
    const run = (await admin.triggerJob("echo")).data;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const next = await stream.next();
      if (next.done) break;
      if (next.value.event !== "change" || next.value.json === undefined) continue;
      const change = next.value.json as ChangeEvent;
      seen.push(change);
      if (change.execution_ids.includes(run.id)) break;
    }
    await stream.return(undefined);
    controller.abort();
    const mine = seen.find((e) => e.execution_ids.includes(run.id));
    assert.ok(mine, `no change event for ${run.id}; saw ${JSON.stringify(seen)}`);
    assert.equal(mine.kind, "execution");
  });
});

describe("errors", () => {
  test("unknown job: JobdeckApiError with status, code, message and request id", async () => {
    const error = await rejection(admin.getJobDetail("nope"));
    assert.equal(error.status, 404);
    assert.equal(error.code, "job_not_found");
    assert.equal(error.message, "Job 'nope' does not exist");
    assert.match(error.requestId ?? "", /^[0-9a-f]{16}$/);
    assert.equal(error.name, "JobdeckApiError");
  });

  test("bad token is 401, a viewer's change is 403 and changes nothing", async () => {
    const bad = await rejection(createClient({ baseUrl, token: "not-a-token" }).getJobs());
    assert.equal(bad.status, 401);
    const forbidden = await rejection(viewer.pauseJob("echo"));
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.code, "forbidden");
    assert.equal((await admin.getJobDetail("echo")).data.paused, false);
  });

  test("a 409 while max_instances runs go, unless forced", async () => {
    const run = (await admin.triggerJob("walker", true, { kwargs: { items: 400, delay: 0.05 } })).data;
    try {
      const error = await rejection(admin.triggerJob("walker", false));
      assert.equal(error.status, 409);
      assert.equal(error.code, "job_already_running");
    } finally {
      await admin.cancelExecution(run.id);
    }
    await waitFor(admin, run.id);
  });

  test("invalid query parameters are a 422 with the field errors", async () => {
    const error = await rejection(admin.getJobExecutions({ limit: 0 }));
    assert.equal(error.status, 422);
    assert.equal(error.code, "validation_error");
    assert.deepEqual(
      error.fieldErrors.map((e) => e.field),
      ["limit"],
    );
  });

  test("no server: a network_error with status 0 and the cause", async () => {
    const error = await rejection(createClient({ baseUrl: "http://127.0.0.1:9", token: "t" }).getJobs());
    assert.equal(error.status, 0);
    assert.equal(error.code, "network_error");
    assert.ok(error.cause !== undefined);
  });

  test("a custom fetch is used, and a non-envelope answer is an invalid_response, never swallowed", async () => {
    const calls: string[] = [];
    const client = createClient({
      baseUrl: "http://example.invalid/",
      token: "t",
      fetch: async (input) => {
        calls.push(input);
        return new Response("<html>proxy</html>", { status: 200, headers: { "content-type": "text/html" } });
      },
    });
    const error = await rejection(client.getSchedulerStats());
    assert.equal(error.code, "invalid_response");
    assert.deepEqual(calls, ["http://example.invalid/api/scheduler/stats"]);
  });

  test("the methods are plain functions: destructuring works", async () => {
    const { getJobs, getMe } = admin;
    assert.equal((await getJobs()).data.length, 3);
    assert.equal((await getMe()).data.role, "admin");
  });
});

describe("EventStreamParser", () => {
  test("parses chunks split anywhere, multi-line data, comments, ids and CRLF", () => {
    const parser = new EventStreamParser();
    const text = 'retry: 2000\r\nevent: hello\r\ndata: {"kind":"hello"}\r\n\r\n: keep-alive\n\nid: 7\nevent: change\ndata: a\ndata: b\n\n';
    const events = [];
    for (let i = 0; i < text.length; i += 3) events.push(...parser.push(text.slice(i, i + 3)));
    assert.deepEqual(
      events.map((e) => [e.event, e.data, e.id, e.retry]),
      [
        ["hello", '{"kind":"hello"}', null, 2000],
        ["change", "a\nb", "7", 2000],
      ],
    );
    assert.deepEqual(events[0]?.json, { kind: "hello" });
    assert.equal(events[1]?.json, undefined);
  });
});

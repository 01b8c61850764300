/*
 * metrics.c: the service's counters in the Prometheus text format
 * (version 0.0.4): requests, tokens in and out, queue depth and busy slots,
 * batch sizes, time to first token (a histogram), decode speed, and the
 * time of the forward passes and of the scheduler's work around them.
 */
#include "serve/serve_int.h"

#include <string.h>

const double serve_ttft_bounds[SERVE_TTFT_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,    2.5,   5,    10,  30,   60};

void serve_metrics_add(_Atomic double *sum, double v)
{
	double old = atomic_load(sum);
	while (!atomic_compare_exchange_weak(sum, &old, old + v))
		;
}

void serve_metrics_ttft(struct serve_metrics *m, double seconds)
{
	int b = 0;
	while (b < SERVE_TTFT_BUCKETS && seconds > serve_ttft_bounds[b])
		b++;
	atomic_fetch_add(&m->ttft_bucket[b], 1);
	atomic_fetch_add(&m->ttft_count, 1);
	serve_metrics_add(&m->ttft_sum, seconds);
}

static void metric(struct buf *b, const char *name, const char *type, const char *help, double v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void serve_metrics_format(const struct serve *s, struct buf *b)
{
	struct serve *ms = (struct serve *)s;
	const struct serve_metrics *m = &s->metrics;
	int nm, na, nq, ns;

	pthread_mutex_lock(&ms->mu);
	serve_sched_counts(ms, &nm, &na, &nq, &ns);
	pthread_mutex_unlock(&ms->mu);

	buf_printf(b,
	           "# HELP huddle_requests_total Inference requests accepted, by endpoint.\n"
	           "# TYPE huddle_requests_total counter\n"
	           "huddle_requests_total{endpoint=\"chat_completions\"} %lld\n"
	           "huddle_requests_total{endpoint=\"completions\"} %lld\n",
	           (long long)atomic_load(&m->requests[SERVE_CHAT]),
	           (long long)atomic_load(&m->requests[SERVE_COMPLETION]));
	metric(b, "huddle_request_errors_total", "counter",
	       "Inference requests answered with an error.", (double)atomic_load(&m->errors));
	metric(b, "huddle_requests_rejected_total", "counter",
	       "Requests refused with 429 (queue or per-caller limit full).",
	       (double)atomic_load(&m->rejected));
	metric(b, "huddle_requests_cancelled_total", "counter",
	       "Generations stopped because the client went away.",
	       (double)atomic_load(&m->cancelled));
	metric(b, "huddle_prompt_tokens_total", "counter", "Prompt tokens processed.",
	       (double)atomic_load(&m->prompt_tokens));
	metric(b, "huddle_generation_tokens_total", "counter", "Tokens generated.",
	       (double)atomic_load(&m->gen_tokens));
	metric(b, "huddle_queue_depth", "gauge", "Requests waiting for a slot.", (double)nq);
	metric(b, "huddle_slots_busy", "gauge", "Sequences being processed.", (double)na);
	metric(b, "huddle_slots_total", "gauge", "Sequence slots of the loaded models.",
	       (double)ns);
	metric(b, "huddle_models_loaded", "gauge", "Models loaded.", (double)nm);
	metric(b, "huddle_model_loads_total", "counter", "Models loaded since start.",
	       (double)atomic_load(&m->loads));
	metric(b, "huddle_model_evictions_total", "counter",
	       "Models evicted to make room (least recently used).",
	       (double)atomic_load(&m->evictions));
	metric(b, "huddle_batch_steps_total", "counter", "Forward passes of the scheduler.",
	       (double)atomic_load(&m->steps));
	metric(b, "huddle_batch_tokens_total", "counter",
	       "Tokens in those forward passes (divide by steps for the mean batch size).",
	       (double)atomic_load(&m->step_items));
	metric(b, "huddle_batch_decode_tokens_total", "counter",
	       "Decode tokens in those forward passes (one per active sequence and step).",
	       (double)atomic_load(&m->step_decode));
	metric(b, "huddle_batch_size", "gauge", "Tokens in the last forward pass.",
	       (double)atomic_load(&m->last_batch));
	metric(b, "huddle_tokens_per_second", "gauge",
	       "Generated tokens per second of forward-pass time (moving average).",
	       atomic_load(&m->decode_tps));
	metric(b, "huddle_forward_seconds_total", "counter",
	       "Time spent in the engine's forward passes.", atomic_load(&m->forward_s));
	metric(b, "huddle_step_overhead_seconds_total", "counter",
	       "The scheduler's own time around the forward passes: admitting, batching, "
	       "sampling, text and stop checks, publishing (divide by steps for the mean).",
	       atomic_load(&m->overhead_s));
	buf_puts(b, "# HELP huddle_time_to_first_token_seconds Time from a request's arrival to "
	            "its first generated token.\n"
	            "# TYPE huddle_time_to_first_token_seconds histogram\n");
	long long cum = 0;
	for (int i = 0; i < SERVE_TTFT_BUCKETS; i++) {
		cum += atomic_load(&m->ttft_bucket[i]);
		buf_printf(b, "huddle_time_to_first_token_seconds_bucket{le=\"%g\"} %lld\n",
		           serve_ttft_bounds[i], cum);
	}
	cum += atomic_load(&m->ttft_bucket[SERVE_TTFT_BUCKETS]);
	buf_printf(b,
	           "huddle_time_to_first_token_seconds_bucket{le=\"+Inf\"} %lld\n"
	           "huddle_time_to_first_token_seconds_sum %.17g\n"
	           "huddle_time_to_first_token_seconds_count %lld\n",
	           cum, atomic_load(&m->ttft_sum), (long long)atomic_load(&m->ttft_count));
}

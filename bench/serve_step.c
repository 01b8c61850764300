/*
 * bench/serve_step.c: the engine's side of continuous batching, without
 * HTTP or the scheduler: the time of one infer_forward over B decode items
 * (B sessions at position POS.., default 16, one token each, logits for
 * each; bench/serve's streams decode at positions 16-80), for
 * B = 1, 2, 4, 8, 16. What bench/serve's aggregate tokens/s can reach is
 * B / step time; this shows how the batched matmuls scale. Also printed:
 * the process's CPU time per step, which on a shared machine is the steadier
 * figure with one thread (other jobs' time on the core does not count).
 *
 *   cc -O2 -Isrc -o /tmp/serve_step bench/serve_step.c build/libhdinfer.a \
 *      build/libhdcore.a -lpcre2-8 -lutf8proc -lcrypto -ljansson -lm -lpthread
 *   /tmp/serve_step bench/.cache/1.1b-q4_k_m.gguf [THREADS] [STEPS] [POS]
 */
#include "core/core.h"
#include "infer/infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct infer_model *m;
	char err[256];
	if (argc < 2) {
		fprintf(stderr, "usage: serve_step MODEL.gguf [THREADS] [STEPS] [POS]\n");
		return 2;
	}
	if (infer_model_load(argv[1], &m, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const int threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 16;
	const int pos = argc > 4 ? atoi(argv[4]) : 16;
	if (threads < 1 || steps < 1 || pos < 1 || pos + steps > 1024) {
		fprintf(stderr, "serve_step: bad THREADS, STEPS or POS\n");
		return 2;
	}
	const int32_t n_vocab = infer_model_hparams(m)->n_vocab;
	struct infer_exec *x = infer_exec_new(m, threads, 16);
	struct infer_session *s[16];
	struct infer_batch_item it[16];
	for (int i = 0; i < 16; i++) {
		int32_t *toks = xmalloc_array((size_t)pos, sizeof(int32_t));
		s[i] = infer_session_new(m, pos + steps);
		for (int k = 0; k < pos; k++)
			toks[k] = 3 + (i * 97 + k * 13) % (n_vocab - 3);
		int rc = infer_eval(x, s[i], toks, pos, 0, NULL, err, sizeof(err));
		free(toks);
		if (rc) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}
	printf("# %s, %d threads, %d steps per batch size from position %d\n", infer_model_desc(m),
	       threads, steps, pos);
	printf("| B | ms/step | tok/s | vs B=1 | CPU ms/step | tok/CPU-s | vs B=1 |\n"
	       "|---|---|---|---|---|---|---|\n");
	double base = 0, cbase = 0;
	for (int B = 1; B <= 16; B *= 2) {
		for (int i = 0; i < 16; i++)
			infer_session_truncate(s[i], pos);
		double t0 = time_mono_s(), c0 = cpu_s();
		for (int st = 0; st < steps; st++) {
			for (int i = 0; i < B; i++)
				it[i] = (struct infer_batch_item){s[i], pos + st, 5 + i, 1};
			if (infer_forward(x, it, B, err, sizeof(err))) {
				fprintf(stderr, "%s\n", err);
				return 1;
			}
		}
		double dt = time_mono_s() - t0, tps = B * steps / dt;
		double dc = cpu_s() - c0, cps = B * steps / dc;
		if (B == 1) {
			base = tps;
			cbase = cps;
		}
		printf("| %d | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |\n", B, dt / steps * 1000,
		       tps, tps / base, dc / steps * 1000, cps, cps / cbase);
		fflush(stdout);
	}
	for (int i = 0; i < 16; i++)
		infer_session_free(s[i]);
	infer_exec_free(x);
	infer_model_free(m);
	return 0;
}

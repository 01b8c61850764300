/*
 * test.h: a tiny unit-test harness. Each test file is one executable:
 *
 *   static void test_thing(void) { CHECK(1 + 1 == 2); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(test_thing); return test_summary(); }
 *
 * test_summary() prints "N passed, N failed" and returns the exit status.
 */
#ifndef HD_TEST_H
#define HD_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_n_pass, test_n_fail, test_cur_failed;
static const char *test_cur_name;

/* A small seeded xorshift generator for tests that want random shapes and
 * values that are the same on every run: test_rng_seed() (optional), then
 * test_rnd32() / test_rnd_int(n) in [0, n). */
static inline uint64_t *test_rng_state(void)
{
	static uint64_t state = 0x9e3779b97f4a7c15ULL;
	return &state;
}

static inline void test_rng_seed(uint64_t seed)
{
	*test_rng_state() = seed;
}

static inline uint32_t test_rnd32(void)
{
	uint64_t *r = test_rng_state();
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return (uint32_t)(*r >> 32);
}

static inline int test_rnd_int(int n)
{
	return (int)(test_rnd32() % (uint32_t)n);
}

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			test_cur_failed = 1;                                                 \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, \
			        test_cur_name, #cond);                                       \
		}                                                                            \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                      \
	do {                                                                                    \
		long long va_ = (long long)(a), vb_ = (long long)(b);                           \
		if (va_ != vb_) {                                                               \
			test_cur_failed = 1;                                                    \
			fprintf(stderr, "%s:%d: %s: %s == %s failed: %lld != %lld\n", __FILE__, \
			        __LINE__, test_cur_name, #a, #b, va_, vb_);                     \
		}                                                                               \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                       \
	do {                                                                                     \
		const char *sa_ = (a), *sb_ = (b);                                               \
		if (!sa_ || !sb_ || strcmp(sa_, sb_)) {                                          \
			test_cur_failed = 1;                                                     \
			fprintf(stderr, "%s:%d: %s: %s == %s failed: \"%s\" != \"%s\"\n",        \
			        __FILE__, __LINE__, test_cur_name, #a, #b, sa_ ? sa_ : "(null)", \
			        sb_ ? sb_ : "(null)");                                           \
		}                                                                                \
	} while (0)

#define RUN(fn)                                            \
	do {                                               \
		test_cur_name = #fn;                       \
		test_cur_failed = 0;                       \
		fn();                                      \
		if (test_cur_failed) {                     \
			test_n_fail++;                     \
			fprintf(stderr, "FAIL %s\n", #fn); \
		} else {                                   \
			test_n_pass++;                     \
		}                                          \
	} while (0)

static inline int test_summary(void)
{
	printf("%d passed, %d failed\n", test_n_pass, test_n_fail);
	return test_n_fail ? 1 : 0;
}

#endif

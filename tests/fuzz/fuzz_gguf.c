/*
 * fuzz_gguf.c: the GGUF reader over arbitrary bytes (SECURITY.md F2). Every
 * accepted file is walked: each key's value and each tensor's bytes are
 * touched, so an out-of-bounds view shows up under ASan. An accepted file is
 * then loaded as a model (hyperparameters, tensor shapes and types, the
 * tokenizer) and, if that works, run for two tokens.
 */
#include "infer/gguf.h"
#include "infer/infer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void try_model(const uint8_t *data, size_t size)
{
	struct infer_model *m = NULL;
	char err[256];
	int fd = memfd_create("fuzz_gguf", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size &&
	    infer_model_load_fd(fd, &m, err, sizeof(err)) == 0) {
		struct infer_session *s = infer_session_new(m, 4);
		struct infer_exec *x = infer_exec_new(m, 1, 2);
		int32_t toks[2] = {0, infer_model_hparams(m)->n_vocab - 1};
		infer_eval(x, s, toks, 2, 0, NULL, err, sizeof(err));
		infer_exec_free(x);
		infer_session_free(s);
		infer_model_free(m);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f = NULL;
	char err[256];
	volatile uint8_t sink = 0;

	/* a private copy, so ASan sees reads past the end of the input */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (gguf_parse(copy, size, &f, err, sizeof(err)) == 0) {
		for (uint64_t i = 0; i < f->n_kv; i++) {
			const struct gguf_kv *kv = &f->kv[i];
			sink ^= (uint8_t)kv->key.data[kv->key.len - 1];
			if (kv->strs) {
				uint64_t n = kv->type == GGUF_TYPE_ARRAY ? kv->arr_n : 1;
				for (uint64_t j = 0; j < n; j++)
					if (kv->strs[j].len)
						sink ^= (uint8_t)kv->strs[j]
						                .data[kv->strs[j].len - 1];
			}
			char key[64];
			size_t kl = kv->key.len < sizeof(key) - 1 ? kv->key.len : sizeof(key) - 1;
			memcpy(key, kv->key.data, kl);
			key[kl] = 0;
			uint32_t u;
			int64_t i64;
			float fl;
			int b;
			struct gguf_str s;
			enum gguf_type et;
			uint64_t n;
			const struct gguf_kv *akv;
			if (gguf_get_u32(f, key, &u) == 0)
				sink ^= (uint8_t)u;
			if (gguf_get_i64(f, key, &i64) == 0)
				sink ^= (uint8_t)i64;
			if (gguf_get_f32(f, key, &fl) == 0)
				sink ^= (uint8_t)(fl == fl);
			if (gguf_get_bool(f, key, &b) == 0)
				sink ^= (uint8_t)b;
			if (gguf_get_str(f, key, &s) == 0 && s.len)
				sink ^= (uint8_t)s.data[0];
			if (gguf_get_arr(f, key, &et, &n, &akv) == 0 && n && et != GGUF_TYPE_STRING)
				sink ^= ((const uint8_t *)akv->data)[0];
		}
		for (uint64_t i = 0; i < f->n_tensors; i++) {
			const struct gguf_tensor *t = &f->tensors[i];
			const uint8_t *p = t->data;
			if (t->size) {
				sink ^= p[0];
				sink ^= p[t->size - 1];
			}
		}
		gguf_close(f);
		try_model(data, size);
	}
	free(copy);
	(void)sink;
	return 0;
}

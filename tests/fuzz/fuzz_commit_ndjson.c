/*
 * fuzz_commit_ndjson.c: the NDJSON commit body parser (api_commit_parse).
 * Any input must give 0 or an error with a message, never a crash or a leak;
 * on success every operation is well-formed.
 */
#include "api/api.h"
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_commit c;
	char err[256];
	int rc = api_commit_parse((const char *)data, size, 64, &c, err, sizeof(err));
	if (rc == 0) {
		if (!c.summary)
			abort();
		for (size_t i = 0; i < c.n_ops; i++) {
			const struct hub_commit_op *op = &c.ops[i];
			if (!op->path)
				abort();
			if (op->kind == HUB_OP_LFS_FILE &&
			    (!op->lfs_oid || strlen(op->lfs_oid) != 64))
				abort();
			if (op->kind == HUB_OP_FILE && op->content_size && !op->content)
				abort();
		}
		api_commit_release(&c);
	} else if (!err[0] || c.n_ops || c.ops || c.summary) {
		abort();
	}
	return 0;
}

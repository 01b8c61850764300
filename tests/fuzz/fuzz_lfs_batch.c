/*
 * fuzz_lfs_batch.c: the LFS batch request parser (api_lfs_batch_parse) and,
 * selected by the first byte, the multipart completion parser
 * (api_lfs_complete_parse). Errors must be clean; accepted oids are always
 * 64 lowercase hex characters (SECURITY P5) and sizes never negative.
 */
#include "api/api.h"
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char oid[] =
	        "3dc9995c8c2be6e1d2ec9e4ff8e4ac8bd0d5b17acd7bff2ad0c5e00cd55c6a36";
	char err[256];

	if (size && data[0] == 'C') {
		/* "C<n>" then a completion body for n parts (n: 1..9). */
		char **etags = NULL;
		size_t n =
		        size > 1 && data[1] >= '1' && data[1] <= '9' ? (size_t)(data[1] - '0') : 1;
		const char *body = (const char *)data + (size > 2 ? 2 : size);
		size_t len = size > 2 ? size - 2 : 0;
		if (api_lfs_complete_parse(body, len, oid, n, &etags, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < n; i++)
				if (!etags[i])
					abort();
			free(etags);
		} else if (etags) {
			abort();
		}
		return 0;
	}
	{
		struct api_lfs_batch b;
		if (api_lfs_batch_parse((const char *)data, size, 100, &b, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < b.n_objs; i++) {
				if (strlen(b.objs[i].oid) != 64 ||
				    !hex_is_lower(b.objs[i].oid, 64) || b.objs[i].size < 0)
					abort();
			}
			api_lfs_batch_release(&b);
		} else if (b.objs || b.n_objs || !err[0]) {
			abort();
		}
	}
	return 0;
}

/*
 * fuzz_card.c: the parsers of repository content the hub reads on every
 * commit and push. Each input is tried as README.md (YAML front matter,
 * hub_card_parse), as a Git LFS pointer (lfs_pointer_parse) and as a
 * .gitattributes file (attrs_is_lfs, whose globs must end on hostile
 * patterns). Nothing may crash, leak or run away.
 */
#include "core/core.h"
#include "hub/hub.h"
#include "hub/hub_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"model.bin", "a/b/c.safetensors", "README.md",
	                                    "saved_model/x/y", "deep/a/b/c/d/e.txt"};
	struct hub_card card;
	char err[256], oid[65];
	int64_t lfs_size;

	if (size > (1 << 20))
		return 0;
	if (hub_card_parse((const char *)data, size, &card, err, sizeof(err)) == 0 && card.json)
		(void)strlen(card.json);
	hub_card_release(&card);

	if (lfs_pointer_parse(data, size, oid, &lfs_size) && (strlen(oid) != 64 || lfs_size < 0))
		abort();

	char *text = xstrndup((const char *)data, size);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		(void)attrs_is_lfs(text, paths[i]);
	/* The input's own first line as a glob against the rest. */
	char *nl = strchr(text, '\n');
	if (nl) {
		*nl = 0;
		(void)attrs_glob(text, nl + 1);
	}
	free(text);
	return 0;
}

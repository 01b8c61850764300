/*
 * store_int.h: what db.c and blob.c share. Not for other modules.
 */
#ifndef HD_STORE_INT_H
#define HD_STORE_INT_H

#include "core/core.h"
#include "store/store.h"

#include <pthread.h>

struct store {
	char *dir;
	char *db_path;
	uint8_t secret[32];
	pthread_mutex_t lock; /* guards the idle list */
	struct store_db *idle;
	size_t n_idle;
};

/* Removes temp files of blob and part writes abandoned long ago (a crash or
 * a kill -9 in the middle of an upload), and the hub's repo directories left
 * in tmp/ by a create or delete cut short (newrepo-*, trash-*). */
void blob_tmp_cleanup(struct store *st);

#endif

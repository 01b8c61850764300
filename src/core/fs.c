/*
 * fs.c: careful file I/O. Writes that publish a file go through a temp file
 * in the same directory, fsync and rename, so a crash never leaves a partial
 * file under the final name.
 */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

int fs_read_file(const char *path, struct buf *out, size_t max_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto done;
	}
	if ((uint64_t)st.st_size > max_size) {
		rc = HD_ETOOBIG;
		goto done;
	}
	buf_grow(out, (size_t)st.st_size);
	for (;;) {
		char tmp[65536];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max_size) {
			rc = HD_ETOOBIG;
			break;
		}
		buf_append(out, tmp, (size_t)n);
	}
done:
	close(fd);
	return rc;
}

int fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t n)
{
	char *tmp = xasprintf("%s.tmp.%d.XXXXXX", path, (int)getpid());
	char *dir = xstrdup(path), *slash;
	const char *p = data;
	int fd, rc = 0;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		rc = fs_fsync_dir(*dir ? dir : "/");
	} else {
		rc = fs_fsync_dir(".");
	}
out:
	free(tmp);
	free(dir);
	return rc;
}

int fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int fs_rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *child = xasprintf("%s/%s", path, e->d_name);
		int r = fs_rm_rf(child);
		free(child);
		if (r && !rc)
			rc = r;
	}
	closedir(d);
	if (rmdir(path) < 0 && !rc)
		rc = -errno;
	return rc;
}

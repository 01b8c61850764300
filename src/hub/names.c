/*
 * names.c: the grammar of repo types, names, file paths, revisions and oids
 * (SECURITY P1, P2, P3, P5). Pure functions: they run before anything
 * touches the disk or reaches git.
 */
#include "hub/hub_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {"model", "dataset", "space"};
static const char *const type_plurals[] = {"models", "datasets", "spaces"};
static const char *const type_prefixes[] = {"", "datasets/", "spaces/"};

int hub_repo_type_parse(const char *s, enum hub_repo_type *out)
{
	if (!s || !*s) {
		*out = HUB_REPO_MODEL;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++) {
		if (!strcmp(s, type_names[i]) || !strcmp(s, type_plurals[i])) {
			*out = (enum hub_repo_type)i;
			return 0;
		}
	}
	return HD_EINVAL;
}

const char *hub_repo_type_name(enum hub_repo_type t)
{
	return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t] : "model";
}

const char *hub_repo_type_plural(enum hub_repo_type t)
{
	return (unsigned)t < ARRAY_SIZE(type_plurals) ? type_plurals[t] : "models";
}

const char *hub_repo_type_prefix(enum hub_repo_type t)
{
	return (unsigned)t < ARRAY_SIZE(type_prefixes) ? type_prefixes[t] : "";
}

int hub_name_valid(const char *name)
{
	return auth_name_valid(name);
}

#define PATH_MAX_BYTES 1024
#define SEGMENT_MAX_BYTES 255

/* File paths (SECURITY P1): valid UTF-8 (no overlong forms), no control
 * characters, no '\\' (the Windows separator), no percent-encoded '.', '/',
 * '\\' or NUL, no leading '/', no empty, "." or ".." segment, no ".git"
 * segment in any case; at most 1024 bytes, 255 a segment. ':' is allowed
 * (logs/2024-01-01T00:00:00.json) except where Windows gives it a meaning:
 * a segment starting with a drive letter ("C:", "c:x": Windows path joins
 * restart at a drive, at any depth) and an NTFS stream designator (':'
 * followed by ':' or '$': "x::$DATA", "x:s:$DATA"). */
int hub_path_valid(const char *path)
{
	size_t n, seg_start = 0;

	if (!path)
		return 0;
	n = strlen(path);
	if (n == 0 || n > PATH_MAX_BYTES || !utf8_valid(path, n))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)path[i];
		if (i < n && (ch < 0x20 || ch == 0x7f || ch == '\\'))
			return 0;
		if (ch == ':' && (path[i + 1] == ':' || path[i + 1] == '$'))
			return 0; /* an NTFS stream: "x::$DATA", "x:name:$DATA" */
		/* Percent-encoded '.', '/', '\\' or NUL: a traversal waiting for a
		 * layer that decodes twice. */
		if (i + 2 < n && ch == '%' &&
		    (!strncasecmp(path + i, "%2e", 3) || !strncasecmp(path + i, "%2f", 3) ||
		     !strncasecmp(path + i, "%5c", 3) || !strncmp(path + i, "%00", 3)))
			return 0;
		if (i < n && ch != '/')
			continue;
		/* a segment path[seg_start, i) */
		size_t len = i - seg_start;
		const char *seg = path + seg_start;
		if (len == 0 || len > SEGMENT_MAX_BYTES)
			return 0; /* leading '/', "//" or trailing '/' */
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (len == 4 && !strncasecmp(seg, ".git", 4))
			return 0;
		if (len >= 2 && seg[1] == ':' && isalpha((unsigned char)seg[0]))
			return 0; /* a drive letter: "C:", "C:x" */
		seg_start = i + 1;
	}
	return 1;
}

int hub_oid_valid(const char *oid)
{
	return store_oid_valid(oid);
}

/* git check-ref-format rules for a name below refs/, plus: no leading '-',
 * only [A-Za-z0-9._/+-], at most 255 bytes. */
int hub_branch_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strlen(name);
	if (n == 0 || n > 255 || name[0] == '-' || name[0] == '/' || name[n - 1] == '/' ||
	    name[n - 1] == '.')
		return 0;
	if (!strcmp(name, "@") || !strcmp(name, "HEAD"))
		return 0;
	if (n >= 5 && !strcmp(name + n - 5, ".lock"))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		/* Stricter than git: letters, digits and . _ / + - only, so a
		 * revision never carries shell or URL metacharacters. */
		if (!isalnum(ch) && !strchr("._/+-", ch))
			return 0;
		if (ch == '.' && (i == 0 || name[i - 1] == '/' || name[i + 1] == '.'))
			return 0; /* component starting with '.', or ".." */
		if (ch == '/' && name[i + 1] == '/')
			return 0;
		if (ch == '@' && name[i + 1] == '{')
			return 0;
		if (ch == '/' && i >= 5 && !strncmp(name + i - 5, ".lock", 5))
			return 0; /* a component ending in ".lock" */
	}
	return 1;
}

int hub_rev_valid(const char *rev)
{
	if (!rev)
		return 0;
	if (!strcmp(rev, "HEAD"))
		return 1;
	return hub_branch_name_valid(rev);
}

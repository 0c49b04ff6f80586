/*
 * test_files.h - what every unit test of a file parser needs: a temporary directory for the
 * program's run, files written into it, and assert_contains for error messages.
 * Include after <cmocka.h>; each test program is its own executable, so these are static.
 */
#ifndef PF_TEST_FILES_H
#define PF_TEST_FILES_H

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[256]; /* short, so that paths built from it fit in PATH_MAX */

#define assert_contains(hay, needle)                                                     \
	do {                                                                              \
		const char *h_ = (hay), *n_ = (needle);                                   \
		if (!h_ || !strstr(h_, n_))                                               \
			fail_msg("\"%s\" not found in \"%s\"", n_, h_ ? h_ : "(null)"); \
	} while (0)

/* Write `text` to tmpdir/name; returns the full path (static buffer, one at a time). */
static __attribute__((unused)) const char *write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Make tmpdir as $TMPDIR/pgfjord-test-NAME-XXXXXX; 0 or -1. */
static __attribute__((unused)) int test_files_setup(const char *name)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/pgfjord-test-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 name);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int test_files_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove tmpdir and everything in it. */
static __attribute__((unused)) int test_files_teardown(void)
{
	return nftw(tmpdir, test_files_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

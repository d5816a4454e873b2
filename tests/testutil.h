/* Helpers shared by the test programs. */
#ifndef RHEMA_TESTUTIL_H
#define RHEMA_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* The fixtures folder: $RHEMA_FIXTURES, else ../shared/fixtures beside the
 * source tree; NULL (with a message on stderr saying the conformance tests
 * are skipped) when it is not there. */
const char *tu_fixtures(void);

/* path = dir/name into buf; returns buf. */
char *tu_path(char *buf, size_t n, const char *dir, const char *name);

/* A new empty folder $TMPDIR/PREFIX-XXXXXX (/tmp without TMPDIR) into buf;
 * NULL when it cannot be made. It is removed with all it holds when the
 * process that made it exits (not by forked children that exit). */
char *tu_temp_dir(char *buf, size_t n, const char *prefix);

/* name inside a new tu_temp_dir folder, into buf; NULL on failure. */
char *tu_temp_file(char *buf, size_t n, const char *prefix, const char *name);

/* Whole file into a malloc'd buffer (NUL-terminated beyond *size); NULL on error. */
uint8_t *tu_read_file(const char *path, size_t *size);

/* Names in dir ending with suffix, sorted; returns count, *names malloc'd
 * (free with tu_free_names). */
size_t tu_list(const char *dir, const char *suffix, char ***names);
void tu_free_names(char **names, size_t n);

#endif

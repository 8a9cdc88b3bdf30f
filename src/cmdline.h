/* The kernel command line isola hands the guest: the user's (or the guest
 * kit's default) plus the parameters options like --console virtio and
 * --root imply.
 *
 * The kernel splits the line into words at spaces outside double quotes
 * (lib/cmdline.c next_arg) and stops taking parameters at a word "--":
 * everything after it goes to init as arguments
 * (Documentation/admin-guide/kernel-parameters.rst). So isola's additions go
 * just before a " -- " if there is one, never into init's part. */
#ifndef ISOLA_CMDLINE_H
#define ISOLA_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/* Is parameter `name` ("console", "root", ...) given before any "--": a word
 * "name" or "name=..."? */
bool cmdline_has_param(const char *cmdline, const char *name);

/* out = cmdline with the words in `extra` (space-separated) added at the end
 * of its parameters, before a "--". cmdline may be NULL or empty. 0, or
 * -ENOSPC if out is too small. */
int cmdline_add(const char *cmdline, const char *extra, char *out, size_t outlen)
	__attribute__((warn_unused_result));

#endif

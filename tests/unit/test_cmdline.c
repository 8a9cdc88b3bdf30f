/* Kernel command-line assembly (cmdline.c). */
#include <errno.h>
#include <string.h>

#include "cmdline.h"
#include "unit.h"

TEST(cmdline_has_param_words)
{
	CHECK(cmdline_has_param("console=ttyS0 panic=-1", "console"));
	CHECK(cmdline_has_param("quiet root=/dev/vda", "root"));
	CHECK(cmdline_has_param("quiet earlycon", "earlycon"));
	CHECK(!cmdline_has_param("quiet rootwait", "root"));
	CHECK(!cmdline_has_param("myconsole=1 xconsole", "console"));
	CHECK(!cmdline_has_param("", "console"));
	CHECK(!cmdline_has_param(NULL, "console"));
	/* After "--" the words are init's, not the kernel's. */
	CHECK(!cmdline_has_param("quiet -- echo console=hvc0", "console"));
	CHECK(cmdline_has_param("\"console=ttyS0\" quiet", "console"));
	/* Spaces inside quotes do not split words. */
	CHECK(!cmdline_has_param("isola.cmd=\"echo x root=y\"", "root"));
}

TEST(cmdline_add_before_init_args)
{
	char out[128];

	CHECK_EQ(cmdline_add("panic=-1", "console=hvc0", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "panic=-1 console=hvc0"));
	CHECK_EQ(cmdline_add(NULL, "root=/dev/vda", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "root=/dev/vda"));
	CHECK_EQ(cmdline_add("", "a b", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "a b"));
	CHECK_EQ(cmdline_add("quiet -- echo hi  there", "console=hvc0", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "quiet console=hvc0 -- echo hi  there"));
	CHECK_EQ(cmdline_add("-- echo hi", "x=1", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "x=1 -- echo hi"));
	CHECK_EQ(cmdline_add("quiet ", "x=1", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "quiet x=1"));
	/* A "--" inside quotes is not the split point. */
	CHECK_EQ(cmdline_add("isola.cmd=\"a -- b\"", "x=1", out, sizeof(out)), 0);
	CHECK(!strcmp(out, "isola.cmd=\"a -- b\" x=1"));
	CHECK_EQ(cmdline_add("quiet", NULL, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "quiet"));
	CHECK_EQ(cmdline_add("quiet", "console=hvc0", out, 8), -ENOSPC);
}

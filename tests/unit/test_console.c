/* The console's Ctrl-A escape logic. */
#include "console.h"
#include "unit.h"

TEST(console_escape_keys)
{
	bool esc = false;
	enum console_action act;
	CHECK_EQ(console_escape_filter(&esc, 'a', &act), 'a');
	CHECK_EQ(act, CONSOLE_NONE);
	CHECK_EQ(console_escape_filter(&esc, 0x01, &act), -1); /* Ctrl-A: wait */
	CHECK(esc);
	CHECK_EQ(console_escape_filter(&esc, 'x', &act), -1);
	CHECK_EQ(act, CONSOLE_QUIT);
	CHECK(!esc);
	CHECK_EQ(console_escape_filter(&esc, 'x', &act), 'x'); /* plain x again */
	CHECK_EQ(act, CONSOLE_NONE);
	console_escape_filter(&esc, 0x01, &act);
	CHECK_EQ(console_escape_filter(&esc, 'h', &act), -1);
	CHECK_EQ(act, CONSOLE_HELP);
	console_escape_filter(&esc, 0x01, &act);
	CHECK_EQ(console_escape_filter(&esc, 0x01, &act), 0x01); /* Ctrl-A Ctrl-A */
	CHECK(!esc);
	console_escape_filter(&esc, 0x01, &act);
	CHECK_EQ(console_escape_filter(&esc, 'q', &act), -1);    /* unknown: swallowed */
	CHECK_EQ(act, CONSOLE_NONE);
	CHECK_EQ(console_escape_filter(&esc, 0x03, &act), 0x03); /* Ctrl-C goes to the guest */
}

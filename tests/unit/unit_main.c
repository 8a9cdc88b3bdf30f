/* Runs every registered unit test, or those whose name contains argv[1]. */
#include <string.h>

#include "unit.h"

static struct unit_test *unit_head, **unit_tail = &unit_head;
int unit_failures;

void unit_register(struct unit_test *t)
{
	/* Constructors run in link order; keep that order for stable output. */
	*unit_tail = t;
	unit_tail = &t->next;
}

int main(int argc, char **argv)
{
	int failed = 0;
	for (struct unit_test *t = unit_head; t; t = t->next) {
		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		unit_failures = 0;
		t->fn();
		printf("%s: unit/%s\n", unit_failures ? "FAIL" : "PASS", t->name);
		fflush(stdout);
		failed += unit_failures != 0;
	}
	return failed ? 1 : 0;
}

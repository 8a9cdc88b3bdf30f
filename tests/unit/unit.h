/* A minimal unit-test framework: TEST(name) { ... } registers a test; CHECK()
 * records a failure with file and line and goes on. The runner prints one
 * "PASS: unit/<name>" or "FAIL: unit/<name>" line per test, the format every
 * suite in tests/ speaks (tests/run.sh counts them). */
#ifndef ISOLA_UNIT_H
#define ISOLA_UNIT_H

#include <stdio.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

void unit_register(struct unit_test *t);
extern int unit_failures; /* failures in the running test */

#define TEST(n)                                                                \
	static void test_##n(void);                                            \
	static struct unit_test unit_##n = { #n, test_##n, 0 };                \
	__attribute__((constructor)) static void reg_##n(void)                 \
	{                                                                      \
		unit_register(&unit_##n);                                      \
	}                                                                      \
	static void test_##n(void)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",         \
				__FILE__, __LINE__, #cond);                    \
			unit_failures++;                                       \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		unsigned long long _a = (unsigned long long)(a);               \
		unsigned long long _b = (unsigned long long)(b);               \
		if (_a != _b) {                                                \
			fprintf(stderr, "  %s:%d: %s == %s failed: 0x%llx != 0x%llx\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);           \
			unit_failures++;                                       \
		}                                                              \
	} while (0)

#endif

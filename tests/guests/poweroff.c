/* ACPI soft-off: SLP_TYP = 5 (the value isola's DSDT \_S5 announces) and
 * SLP_EN in PM1a_CNT (ACPI spec 4.8.3.2.1, 16-bit register at 0x604). isola
 * must stop with status 0. First a write of SLP_TYP 5 without SLP_EN, which
 * must not power off (SLP_EN is the trigger). */
#include "rt/lib.h"

#define SLP_TYP_S5 (5u << 10)
#define SLP_EN (1u << 13)

int guest_main(void *bp)
{
	puts("PM1a_CNT: SLP_TYP=5 without SLP_EN\n");
	outw(PORT_PM1_CNT, SLP_TYP_S5);
	puts("still here, as expected; now SLP_TYP=5 with SLP_EN\n");
	outw(PORT_PM1_CNT, SLP_TYP_S5 | SLP_EN);
	for (volatile unsigned i = 0; i < 1000; i++)
		;
	fail("still running after the ACPI S5 request");
}

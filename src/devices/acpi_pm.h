/* ACPI fixed-hardware power management registers: the PM1a event block
 * (PM1_STS, PM1_EN) and the PM1a control block (PM1_CNT), laid out as in
 * arch/x86/layout.h (PORT_ACPI_PM, PORT_ACPI_PM_LEN bytes, one pio range). A
 * PM1_CNT write with SLP_EN and SLP_TYP == ACPI_S5_SLP_TYP powers the VM off.
 *
 * The FADT must describe: PM1a_EVT_BLK = PORT_ACPI_PM1_EVT, PM1_EVT_LEN = 4,
 * PM1a_CNT_BLK = PORT_ACPI_PM1_CNT, PM1_CNT_LEN = 2, SMI_CMD = 0 (ACPI is
 * always on), SCI_INT = IRQ_ACPI_SCI, flags PWR_BUTTON = 0 (fixed-feature
 * power button present) if the host wants acpi_pm_power_button() to work.
 * The SCI is driven as an active-high level: the MADT needs an interrupt
 * source override for IRQ 9, level-triggered, active high. */
#ifndef ISOLA_DEVICES_ACPI_PM_H
#define ISOLA_DEVICES_ACPI_PM_H

#include "device.h"
#include "irq.h"

struct vm;

/* vm: for vm_request_stop(). sci: the SCI line (copied; may be NULL). NULL on
 * ENOMEM. The caller registers [PORT_ACPI_PM, +PORT_ACPI_PM_LEN) as region 0. */
struct device *acpi_pm_create(struct vm *vm, const struct irq_line *sci);

/* Create with the SCI on IRQ_ACPI_SCI of vm->irq, add to the VM, claim the
 * ports. 0 or -errno. */
int acpi_pm_attach(struct vm *vm, struct device **out) __attribute__((warn_unused_result));

/* The host presses the power button (a graceful shutdown request): sets
 * PWRBTN_STS, and the SCI if the guest enabled PWRBTN_EN. Any thread. */
void acpi_pm_power_button(struct device *dev);

#endif

/* Running a VM from a validated configuration: choose the accelerator, set up
 * the console, build the VM, run it until it stops (restarting it on reset when
 * asked), and turn the reason it stopped into isola's exit status. */
#ifndef ISOLA_RUN_H
#define ISOLA_RUN_H

#include "config.h"

int isola_run(const struct vm_config *cfg);

#endif

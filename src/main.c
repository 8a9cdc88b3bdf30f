/* isola: command line → struct vm_config → vm_build → run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdline.h"
#include "config.h"
#include "gdbstub.h"
#include "log.h"
#include "run.h"
#include "trace.h"

static const char usage_main[] =
	"usage: isola COMMAND [options]\n"
	"\n"
	"isola is a virtual machine monitor: it runs x86-64 guests on a kvm or a\n"
	"software CPU back end.\n"
	"\n"
	"commands:\n"
	"  run        boot a guest (with no --kernel, the guest kit's default guest)\n"
	"\n"
	"  isola --help, isola --version, isola run --help\n";

static const char usage_run[] =
	"usage: isola run [options]\n"
	"\n"
	"  --kernel FILE        bzImage or ELF64 kernel (default: the guest kit's)\n"
	"  --initrd FILE        initial ramdisk\n"
	"  --cmdline STRING     kernel command line\n"
	"  --cpus N             virtual CPUs, 1.." "64" " (default 1)\n"
	"  --memory SIZE        guest RAM, e.g. 256M, 2G (default 256M)\n"
	"  --accel auto|kvm|soft  CPU back end (default auto: kvm only where it runs\n"
	"                       the guest natively, else soft)\n"
	"  --on-reset exit|restart  what a guest reset does (default exit)\n"
	"  --serial-in FILE     feed the console from FILE instead of stdin\n"
	"  --console serial|virtio  where this terminal is joined: the 16550 UART\n"
	"                       (ttyS0, default) or a virtio-console port (hvc0;\n"
	"                       adds console=hvc0 to a command line without console=;\n"
	"                       the UART's output is still shown)\n"
	"  --disk path=IMG[,readonly=on][,cache=writeback|none|unsafe][,id=NAME]\n"
	"                       a raw disk image as virtio-blk (/dev/vda, vdb, ...;\n"
	"                       repeatable); cache=writeback flushes on the guest's\n"
	"                       FLUSH, none uses O_DIRECT, unsafe never flushes\n"
	"  --rng                a virtio-rng device fed by the host's getrandom()\n"
	"  --root DEV           the guest's root file system is on DEV (e.g. /dev/vda,\n"
	"                       the first --disk): adds root=DEV rootwait rw\n"
	"  --log-unclaimed      log port and MMIO accesses no device claims (guests\n"
	"                       probe for absent hardware: off by default)\n"
	"  --gdb tcp:HOST:PORT  a gdb stub there (gdb: target remote HOST:PORT)\n"
	"  --gdb-wait           with --gdb: every vCPU waits before its first\n"
	"                       instruction until gdb continues (QEMU's -S)\n"
	"  --trace FILE[,size=N]  soft only: every instruction and exception to\n"
	"                       FILE, at most N bytes (default 64M, up to 16G)\n"
	"  --dry-run            check everything and build the VM (load the kernel,\n"
	"                       initrd and tables), then exit 0 without running it\n"
	"\n"
	"The guest's console is this terminal. Ctrl-A x quits, Ctrl-A h help.\n"
	"\n"
	"Exit status: 0 guest powered off, reset, Ctrl-A x or gdb kill; 2 bad usage or input;\n"
	"4 guest crashed (triple fault, emulation failure: registers on stderr);\n"
	"6 host error while running; odd values (v << 1) | 1 from the debug-exit\n"
	"port 0x501; 128+N killed by signal N.\n";

/* The guest kit lives next to the binary (build/guestkit) unless
 * ISOLA_GUESTKIT names another directory. Writes the path of `name` in it to
 * buf; false if it cannot be formed. */
static bool guestkit_file(const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];
	const char *env = getenv("ISOLA_GUESTKIT");
	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
		if (n < 0)
			return false;
		dir[n] = '\0';
		char *slash = strrchr(dir, '/');
		if (!slash)
			return false;
		snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/guestkit");
	}
	return snprintf(buf, len, "%s/%s", dir, name) < (int)len;
}

static void check_readable_file(const char *opt, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		die_usage("%s %s: %s", opt, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die_usage("%s %s: not a regular file", opt, path);
	if (access(path, R_OK) < 0)
		die_usage("%s %s: cannot read it: %s", opt, path, strerror(errno));
}

static uint64_t host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), sz = sysconf(_SC_PAGESIZE);
	return pages > 0 && sz > 0 ? (uint64_t)pages * (uint64_t)sz : 0;
}

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_ACCEL,
       OPT_ON_RESET, OPT_SERIAL_IN, OPT_DRY_RUN, OPT_LOG_UNCLAIMED, OPT_DISK, OPT_RNG,
       OPT_GDB, OPT_GDB_WAIT, OPT_TRACE, OPT_CONSOLE, OPT_ROOT, OPT_HELP };

static const struct option run_options[] = {
	{ "kernel", required_argument, 0, OPT_KERNEL },
	{ "initrd", required_argument, 0, OPT_INITRD },
	{ "cmdline", required_argument, 0, OPT_CMDLINE },
	{ "cpus", required_argument, 0, OPT_CPUS },
	{ "memory", required_argument, 0, OPT_MEMORY },
	{ "accel", required_argument, 0, OPT_ACCEL },
	{ "on-reset", required_argument, 0, OPT_ON_RESET },
	{ "serial-in", required_argument, 0, OPT_SERIAL_IN },
	{ "dry-run", no_argument, 0, OPT_DRY_RUN },
	{ "log-unclaimed", no_argument, 0, OPT_LOG_UNCLAIMED },
	{ "disk", required_argument, 0, OPT_DISK },
	{ "rng", no_argument, 0, OPT_RNG },
	{ "gdb", required_argument, 0, OPT_GDB },
	{ "gdb-wait", no_argument, 0, OPT_GDB_WAIT },
	{ "trace", required_argument, 0, OPT_TRACE },
	{ "console", required_argument, 0, OPT_CONSOLE },
	{ "root", required_argument, 0, OPT_ROOT },
	{ "help", no_argument, 0, OPT_HELP },
	{ 0, 0, 0, 0 },
};

static bool parse_on_off(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* --disk path=IMG[,readonly=on][,cache=MODE][,id=NAME]; a first field with
 * no '=' is the path. The option's text is split in place: argv lives as
 * long as the configuration. */
static void parse_disk(struct vm_config *cfg, char *arg)
{
	char *whole = strdupa(arg);
	if (cfg->nr_disks + (cfg->rng ? 1 : 0) >= CONFIG_MAX_VIRTIO)
		die_usage("--disk %s: at most %d virtio devices (--disk and --rng together)",
			  whole, CONFIG_MAX_VIRTIO);
	struct disk_config *d = &cfg->disks[cfg->nr_disks];
	*d = (struct disk_config){ .cache = BLOCK_CACHE_WRITEBACK };
	char *save = NULL;
	bool first = true;
	for (char *kv = strtok_r(arg, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq && first) {
			d->path = kv;
			first = false;
			continue;
		}
		first = false;
		if (!eq)
			die_usage("--disk %s: '%s' is not key=value (keys: path, readonly, cache, id)",
				  whole, kv);
		*eq = '\0';
		const char *v = eq + 1;
		if (!strcmp(kv, "path") || !strcmp(kv, "file")) {
			d->path = v;
		} else if (!strcmp(kv, "readonly") || !strcmp(kv, "ro")) {
			if (!parse_on_off(v, &d->readonly))
				die_usage("--disk %s: readonly=%s: say on or off", whole, v);
		} else if (!strcmp(kv, "cache")) {
			if (block_cache_parse(v, &d->cache))
				die_usage("--disk %s: cache=%s: choose writeback, none or unsafe",
					  whole, v);
		} else if (!strcmp(kv, "id")) {
			if (strlen(v) > BLOCK_ID_LEN)
				die_usage("--disk %s: id=%s: at most %d bytes", whole, v,
					  BLOCK_ID_LEN);
			d->id = v;
		} else {
			die_usage("--disk %s: unknown key '%s' (keys: path, readonly, cache, id)",
				  whole, kv);
		}
	}
	if (!d->path || !*d->path)
		die_usage("--disk %s: no path=IMG given", whole);
	cfg->nr_disks++;
}

/* --root DEV: a device node path as the kernel's root= and the guest kit's
 * /init take it, /dev/NAME with a plain name (letters, digits, '_', '-',
 * '.', '/' for /dev/disk/by-... links; no "..", no spaces). */
static void check_root_dev(const char *dev)
{
	const char *name = dev + 5;

	if (strncmp(dev, "/dev/", 5) || !*name)
		die_usage("--root %s: give the device the root file system is on, such as "
			  "/dev/vda (the first --disk)", dev);
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_-./:", *p)))
			die_usage("--root %s: '%c' has no place in a device name; give e.g. /dev/vda",
				  dev, *p);
	if (strstr(name, "..") || strlen(dev) > 128)
		die_usage("--root %s: give a plain device path such as /dev/vda", dev);
}

/* The command line the guest gets: the user's, or the guest kit's default,
 * plus what --console virtio and --root imply, before any " -- ". */
static void build_cmdline(struct vm_config *cfg)
{
	/* Static: the configuration refers to it for the whole run. */
	static char line[4096];
	char extra[512] = "";
	const char *base = cfg->cmdline;

	if (!base && cfg->kernel_is_default)
		base = cfg->console == CONSOLE_SERIAL ? "console=ttyS0 panic=-1" : "panic=-1";
	if (cfg->console == CONSOLE_VIRTIO && !cmdline_has_param(base, "console")) {
		/* hvc0 exists only once the guest loads virtio_console; until
		 * then the kernel's messages go to the UART through earlycon,
		 * which the kernel retires when hvc0 registers (without
		 * replaying the log twice), so a panic before that is seen. */
		if (!cmdline_has_param(base, "earlycon"))
			strcat(extra, "earlycon=uart8250,io,0x3f8,115200 ");
		strcat(extra, "console=hvc0");
	}
	if (cfg->root) {
		if (cmdline_has_param(base, "root"))
			die_usage("--root %s: the --cmdline already has a root= parameter; give "
				  "only one of them", cfg->root);
		/* rootwait: virtio devices may show up after the kernel looks;
		 * rw unless the user's line says ro. (The guest kit's /init
		 * reads the same parameters when it mounts the root itself.) */
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%sroot=%s rootwait%s",
			 extra[0] ? " " : "", cfg->root, cmdline_has_param(base, "ro") ? "" : " rw");
	}
	if (!extra[0]) {
		cfg->cmdline = base;
		return;
	}
	if (cmdline_add(base, extra, line, sizeof(line)))
		die_usage("--cmdline: too long once '%s' is added (at most %zu bytes)", extra,
			  sizeof(line) - 1);
	cfg->cmdline = line;
}

static void parse_run(int argc, char **argv, struct vm_config *cfg)
{
	*cfg = (struct vm_config){ .cpus = 1, .memory = CONFIG_DEFAULT_MEMORY,
				   .accel = ACCEL_AUTO, .on_reset = ON_RESET_EXIT };
	opterr = 0;
	optind = 1;
	for (;;) {
		int prev = optind;
		int c = getopt_long(argc, argv, ":", run_options, NULL);
		if (c == -1)
			break;
		switch (c) {
		case OPT_KERNEL: cfg->kernel = optarg; break;
		case OPT_INITRD: cfg->initrd = optarg; break;
		case OPT_CMDLINE: cfg->cmdline = optarg; break;
		case OPT_SERIAL_IN: cfg->serial_in = optarg; break;
		case OPT_DRY_RUN: cfg->dry_run = true; break;
		case OPT_LOG_UNCLAIMED: cfg->log_unclaimed = true; break;
		case OPT_DISK: parse_disk(cfg, optarg); break;
		case OPT_RNG:
			if (!cfg->rng && cfg->nr_disks >= CONFIG_MAX_VIRTIO)
				die_usage("--rng: at most %d virtio devices (--disk and --rng "
					  "together)", CONFIG_MAX_VIRTIO);
			cfg->rng = true;
			break;
		case OPT_GDB: {
			char host[256], err[512];
			uint16_t port;
			if (cfg->gdb)
				die_usage("--gdb %s: given twice (one stub per VM)", optarg);
			if (gdbstub_parse_spec(optarg, host, sizeof(host), &port, err, sizeof(err)))
				die_usage("%s", err);
			cfg->gdb = optarg;
			break;
		}
		case OPT_GDB_WAIT: cfg->gdb_wait = true; break;
		case OPT_TRACE: {
			char err[512];
			if (cfg->trace)
				die_usage("--trace %s: given twice", optarg);
			/* Split in place: argv lives as long as the configuration. */
			if (trace_parse_spec(optarg, &cfg->trace, &cfg->trace_size, err,
					     sizeof(err)))
				die_usage("%s", err);
			break;
		}
		case OPT_CONSOLE:
			if (!strcmp(optarg, "serial"))
				cfg->console = CONSOLE_SERIAL;
			else if (!strcmp(optarg, "virtio"))
				cfg->console = CONSOLE_VIRTIO;
			else
				die_usage("--console %s: choose serial or virtio", optarg);
			break;
		case OPT_ROOT:
			check_root_dev(optarg);
			cfg->root = optarg;
			break;
		case OPT_CPUS: {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > CONFIG_MAX_CPUS)
				die_usage("--cpus %s: give a number from 1 to %d", optarg,
					  CONFIG_MAX_CPUS);
			cfg->cpus = (unsigned)n;
			break;
		}
		case OPT_MEMORY:
			if (config_parse_size(optarg, &cfg->memory))
				die_usage("--memory %s: not a size; write e.g. 256M or 2G", optarg);
			break;
		case OPT_ACCEL:
			if (!strcmp(optarg, "auto"))
				cfg->accel = ACCEL_AUTO;
			else if (!strcmp(optarg, "kvm"))
				cfg->accel = ACCEL_KVM;
			else if (!strcmp(optarg, "soft"))
				cfg->accel = ACCEL_SOFT;
			else
				die_usage("--accel %s: choose auto, kvm or soft", optarg);
			break;
		case OPT_ON_RESET:
			if (!strcmp(optarg, "exit"))
				cfg->on_reset = ON_RESET_EXIT;
			else if (!strcmp(optarg, "restart"))
				cfg->on_reset = ON_RESET_RESTART;
			else
				die_usage("--on-reset %s: choose exit or restart", optarg);
			break;
		case OPT_HELP:
			fputs(usage_run, stdout);
			exit(0);
		case ':':
			die_usage("run: option %s needs a value (see isola run --help)",
				  argv[prev]);
		default:
			die_usage("run: unknown option '%s' (see isola run --help)", argv[prev]);
		}
	}
	if (optind < argc)
		die_usage("run: unexpected argument '%s' (see isola run --help)", argv[optind]);

	/* Validate once; the rest of isola trusts cfg. */
	if (cfg->gdb_wait && !cfg->gdb)
		die_usage("--gdb-wait: needs --gdb tcp:HOST:PORT (where the debugger attaches)");
	if (cfg->accel == ACCEL_KVM && cfg->trace)
		die_usage("--trace %s: the instruction trace is soft-only: add --accel soft",
			  cfg->trace);
	if (!cfg->kernel) {
		/* Static: the configuration refers to them for the whole run. */
		static char kernel[PATH_MAX], initrd[PATH_MAX];
		if (!guestkit_file("vmlinuz", kernel, sizeof(kernel)) || access(kernel, R_OK) < 0)
			die_usage("no --kernel given and the default guest kit is not built (%s "
				  "missing): run 'make guestkit' or pass --kernel FILE",
				  kernel[0] ? kernel : "guestkit/vmlinuz");
		cfg->kernel = kernel;
		cfg->kernel_is_default = true;
		if (!cfg->initrd) {
			if (!guestkit_file("initrd.img", initrd, sizeof(initrd)) ||
			    access(initrd, R_OK) < 0)
				die_usage("the guest kit has a kernel but no %s: run 'make "
					  "guestkit'", initrd[0] ? initrd : "initrd.img");
			cfg->initrd = initrd;
		}
	}
	if (cfg->root && cfg->nr_disks == 0)
		die_usage("--root %s: no --disk given for the root file system to be on; add "
			  "--disk path=IMG", cfg->root);
	if (cfg->nr_disks + (cfg->rng ? 1 : 0) + (cfg->console == CONSOLE_VIRTIO ? 1 : 0) >
	    CONFIG_MAX_VIRTIO)
		die_usage("--console virtio: at most %d virtio devices (--disk, --rng and "
			  "--console virtio together)", CONFIG_MAX_VIRTIO);
	build_cmdline(cfg);
	check_readable_file("--kernel", cfg->kernel);
	if (cfg->initrd)
		check_readable_file("--initrd", cfg->initrd);
	if (cfg->serial_in) {
		/* A file, a FIFO or a character device: anything but a directory. */
		struct stat st;
		if (stat(cfg->serial_in, &st) < 0)
			die_usage("--serial-in %s: %s", cfg->serial_in, strerror(errno));
		if (S_ISDIR(st.st_mode))
			die_usage("--serial-in %s: is a directory", cfg->serial_in);
		if (access(cfg->serial_in, R_OK) < 0)
			die_usage("--serial-in %s: cannot read it: %s", cfg->serial_in,
				  strerror(errno));
	}
	if (cfg->memory < CONFIG_MIN_MEMORY)
		die_usage("--memory: %llu MiB is too small; give at least %llu M",
			  (unsigned long long)(cfg->memory >> 20),
			  (unsigned long long)(CONFIG_MIN_MEMORY >> 20));
	if (cfg->memory & 0xfff)
		die_usage("--memory: must be a multiple of 4 KiB");
	uint64_t ram = host_ram();
	if (ram && cfg->memory > ram)
		die_usage("--memory: %llu MiB is more than this host's %llu MiB of RAM",
			  (unsigned long long)(cfg->memory >> 20),
			  (unsigned long long)(ram >> 20));
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die_usage("no command given: try 'isola run', or 'isola --help'");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("isola %s\n", ISOLA_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run")) {
		struct vm_config cfg;
		parse_run(argc - 1, argv + 1, &cfg);
		return isola_run(&cfg);
	}
	die_usage("unknown command '%s' (see isola --help)", cmd);
}

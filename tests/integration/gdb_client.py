#!/usr/bin/env python3
"""A small GDB Remote Serial Protocol client for isola's gdb stub tests.

Usage: gdb_client.py SCENARIO PORT ELF
  basic      at the entry point (--gdb-wait): registers, code bytes against
             the ELF, a memory write the guest sees, a breakpoint, a single
             step, an unmapped read, continue to the exit status
  interrupt  the guest spins (loop=1): Ctrl-C stops it inside gdb_spin;
             writing gdb_stop lets it finish
  attach     the guest already spins (no --gdb-wait): attaching stops it,
             a second client is refused, detaching lets it run on
  restart    (ELF: the reset guest, --on-reset restart) a breakpoint stops
             the VM after a reset too; kill ends isola
  step-fault (fault=1) stepping ud2 ends in the guest's #UD handler

Prints one "PASS: $GDB_SUITE/<name>" or "FAIL: $GDB_SUITE/<name> (why)" line
per check (GDB_SUITE defaults to "gdb") and exits 0 (gdb.sh also checks
isola's own exit status).
"""
import os
import socket
import struct
import subprocess
import sys
import time

SUITE = os.environ.get("GDB_SUITE", "gdb")
# Register numbers of isola's target description (src/gdbstub_regs.c).
REG_RSI, REG_RDI, REG_RSP, REG_RIP, REG_EFLAGS, REG_CS = 4, 5, 7, 16, 17, 18


class RspError(Exception):
    pass


class Rsp:
    def __init__(self, port, timeout=20.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _read_byte(self):
        if not self.buf:
            data = self.s.recv(65536)
            if not data:
                raise RspError("connection closed")
            self.buf = data
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, payload):
        body = payload.encode() if isinstance(payload, str) else payload
        csum = sum(body) & 0xFF
        self.send_raw(b"$" + body + b"#%02x" % csum)
        # acknowledgement (we never ask for no-ack mode)
        while True:
            c = self._read_byte()
            if c == b"+":
                return
            if c == b"-":
                self.send_raw(b"$" + body + b"#%02x" % csum)

    def recv(self):
        while self._read_byte() != b"$":
            pass
        body = b""
        while True:
            c = self._read_byte()
            if c == b"#":
                break
            body += c
        csum = int(self._read_byte() + self._read_byte(), 16)
        if csum != sum(body) & 0xFF:
            raise RspError("bad checksum from the stub")
        self.send_raw(b"+")
        return body.decode("latin-1")

    def cmd(self, payload):
        self.send(payload)
        return self.recv()

    def regs(self):
        """All registers of the 'g' packet, decoded per the layout."""
        g = bytes.fromhex(self.cmd("g"))
        sizes = [8] * 17 + [4] * 7
        out, off = [], 0
        for sz in sizes:
            out.append(int.from_bytes(g[off:off + sz], "little"))
            off += sz
        return out

    def read_mem(self, addr, n):
        r = self.cmd("m%x,%x" % (addr, n))
        if r.startswith("E"):
            return r
        return bytes.fromhex(r)

    def write_mem(self, addr, data):
        return self.cmd("M%x,%x:%s" % (addr, len(data), data.hex()))


def report(name, ok, why=""):
    if ok:
        print("PASS: %s/%s" % (SUITE, name))
    else:
        print("FAIL: %s/%s (%s)" % (SUITE, name, why))
    sys.stdout.flush()


def elf_info(path):
    """Entry point, symbols (nm) and the loadable segments of an ELF64."""
    data = open(path, "rb").read()
    entry = struct.unpack_from("<Q", data, 0x18)[0]
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            segs.append((p_vaddr, p_offset, p_filesz))
    syms = {}
    for line in subprocess.run(["nm", path], capture_output=True, text=True).stdout.split("\n"):
        f = line.split()
        if len(f) == 3:
            syms[f[2]] = int(f[0], 16)
    return data, entry, segs, syms


def file_bytes(data, segs, vaddr, n):
    for (va, off, sz) in segs:
        if va <= vaddr and vaddr + n <= va + sz:
            return data[off + vaddr - va:off + vaddr - va + n]
    return None


def insn_after(elf, addr):
    """Address of the instruction after the one at addr (objdump)."""
    out = subprocess.run(["objdump", "-d", "--start-address=0x%x" % addr,
                          "--stop-address=0x%x" % (addr + 32), elf],
                         capture_output=True, text=True).stdout
    addrs = []
    for line in out.split("\n"):
        f = line.split(":")
        if len(f) >= 2 and f[0].strip() and all(c in "0123456789abcdef" for c in f[0].strip()) \
                and line.startswith(" "):
            addrs.append(int(f[0].strip(), 16))
    return addrs[1] if len(addrs) > 1 else None


def stop_thread_and_signal(reply):
    if not reply.startswith("T"):
        return None, None
    sig = int(reply[1:3], 16)
    thread = None
    for part in reply[3:].split(";"):
        if part.startswith("thread:"):
            thread = int(part[7:], 16)
    return sig, thread


def scenario_basic(port, elf):
    data, entry, segs, syms = elf_info(elf)
    c = Rsp(port)
    sup = c.cmd("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
    report("qsupported", "PacketSize=" in sup and "qXfer:features:read+" in sup, sup)
    xml = c.cmd("qXfer:features:read:target.xml:0,ffb")
    report("target-xml", xml[:1] in ("l", "m") and "i386:x86-64" in xml
           and "org.gnu.gdb.i386.core" in xml, xml[:60])
    stop = c.cmd("?")
    sig, thread = stop_thread_and_signal(stop)
    report("stop-reason", sig == 5 and thread == 1, stop)
    threads = c.cmd("qfThreadInfo")
    report("threads", threads == "m1" and c.cmd("qsThreadInfo") == "l", threads)

    r = c.regs()
    report("entry-regs", r[REG_RIP] == entry and r[REG_RSI] != 0 and r[REG_CS] == 0x10
           and r[REG_EFLAGS] & 2, "rip 0x%x (entry 0x%x) rsi 0x%x cs 0x%x eflags 0x%x" % (
               r[REG_RIP], entry, r[REG_RSI], r[REG_CS], r[REG_EFLAGS]))
    p = c.cmd("p%x" % REG_RIP)
    report("read-one-reg", p and int.from_bytes(bytes.fromhex(p), "little") == entry, p)

    code = c.read_mem(entry, 64)
    want = file_bytes(data, segs, entry, 64)
    report("read-code", isinstance(code, bytes) and code == want,
           "read %r, ELF has %r" % (code if isinstance(code, str) else code.hex(),
                                    want.hex() if want else None))
    bad = c.read_mem(0x00007f0000000000, 16)
    report("read-unmapped", isinstance(bad, str) and bad.startswith("E"), repr(bad))

    poke = syms["gdb_poke"]
    old = c.read_mem(poke, 8)
    w = c.write_mem(poke, struct.pack("<Q", 0x21))
    back = c.read_mem(poke, 8)
    report("write-memory", isinstance(old, bytes) and struct.unpack("<Q", old)[0] == 7 and
           w == "OK" and back == struct.pack("<Q", 0x21), "old %r reply %r back %r" % (old, w, back))

    # Write a register and put it back.
    pr = c.cmd("P%x=%s" % (REG_RSP, struct.pack("<Q", 0x1234).hex()))
    r2 = c.regs()
    c.cmd("P%x=%s" % (REG_RSP, struct.pack("<Q", r[REG_RSP]).hex()))
    report("write-reg", pr == "OK" and r2[REG_RSP] == 0x1234, "%r rsp 0x%x" % (pr, r2[REG_RSP]))

    # The back end's breakpoint limit (64 soft, 4 kvm): one more is refused.
    limit = int(os.environ.get("GDB_MAX_BP", "64"))
    replies = [c.cmd("Z0,%x,1" % (0x100000 + i)) for i in range(limit + 1)]
    removed = [c.cmd("z0,%x,1" % (0x100000 + i)) for i in range(limit + 1)]
    report("breakpoint-limit", replies[:limit] == ["OK"] * limit and
           replies[limit].startswith("E") and removed == ["OK"] * (limit + 1),
           "%d accepted of %d, the next answered %r" % (replies.count("OK"), limit,
                                                        replies[-1]))

    marker = syms["gdb_marker"]
    z = c.cmd("Z0,%x,1" % marker)
    stop = c.cmd("c")
    sig, thread = stop_thread_and_signal(stop)
    r = c.regs()
    report("breakpoint", z == "OK" and sig == 5 and r[REG_RIP] == marker,
           "Z0 %r, stop %r, rip 0x%x, gdb_marker 0x%x" % (z, stop, r[REG_RIP], marker))
    # The guest called gdb_marker(gdb_poke): the written value is its argument.
    rdi = int.from_bytes(bytes.fromhex(c.cmd("p%x" % REG_RDI)), "little")
    report("write-seen", rdi == 0x21, "gdb_marker's argument is 0x%x, not 0x21" % rdi)

    # Single step: gdb removes the breakpoint under the PC first.
    c.cmd("z0,%x,1" % marker)
    nxt = insn_after(elf, marker)
    stop = c.cmd("s")
    sig, _ = stop_thread_and_signal(stop)
    r = c.regs()
    report("single-step", sig == 5 and nxt is not None and r[REG_RIP] == nxt,
           "stop %r rip 0x%x expected 0x%s" % (stop, r[REG_RIP], "%x" % nxt if nxt else "?"))
    stop = c.cmd("vCont;s:1")
    r3 = c.regs()
    report("vcont-step", stop.startswith("T05") and r3[REG_RIP] != r[REG_RIP],
           "stop %r rip 0x%x" % (stop, r3[REG_RIP]))

    # Continue to the end: the stub reports the exit status (W packet).
    c.send("c")
    end = c.recv()
    report("exit-status", end == "W43", "got %r, expected W43 (debug-exit 0x21)" % end)


def scenario_interrupt(port, elf):
    _, _, _, syms = elf_info(elf)
    c = Rsp(port)
    c.cmd("qSupported")
    c.cmd("?")
    c.send("c")
    time.sleep(0.5)
    c.send_raw(b"\x03")
    stop = c.recv()
    sig, _ = stop_thread_and_signal(stop)
    rip = c.regs()[REG_RIP]
    spin = syms["gdb_spin"]
    names = sorted((a, n) for n, a in syms.items())
    inside = [n for (a, n) in names if a <= rip][-1:] == ["gdb_spin"]
    report("ctrl-c", sig == 2 and inside, "stop %r rip 0x%x (gdb_spin 0x%x)" % (stop, rip, spin))
    w = c.write_mem(syms["gdb_stop"], struct.pack("<Q", 1))
    c.send("c")
    end = c.recv()
    report("ctrl-c-resume", w == "OK" and end == "W0f", "write %r, end %r" % (w, end))


def scenario_attach(port, elf):
    """Attach to a guest that already runs (no --gdb-wait), then detach."""
    _, _, _, syms = elf_info(elf)
    c = Rsp(port)
    c.cmd("qSupported")
    stop = c.cmd("?")
    rip = c.regs()[REG_RIP]
    names = sorted((a, n) for n, a in syms.items())
    inside = [n for (a, n) in names if a <= rip][-1:] == ["gdb_spin"]
    report("attach-stops", stop.startswith("T05") and inside,
           "stop %r rip 0x%x" % (stop, rip))
    # One debugger at a time: a second connection is closed at once.
    second = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        refused = second.recv(16) == b""
    except OSError:
        refused = True
    second.close()
    report("second-client-refused", refused, "the second connection stayed open")
    w = c.write_mem(syms["gdb_stop"], struct.pack("<Q", 1))
    d = c.cmd("D")
    report("detach", w == "OK" and d == "OK", "write %r, detach %r" % (w, d))


def scenario_restart(port, elf):
    """The reset guest with --on-reset restart: a breakpoint set in the first
    VM stops the next one too; kill ends isola."""
    _, _, _, syms = elf_info(elf)
    c = Rsp(port)
    c.cmd("?")
    bp = "%x" % syms["guest_main"]
    hits = []
    c.cmd("Z0,%s,1" % bp)
    for _ in range(2):
        stop = c.cmd("c")
        hits.append((stop[:3], c.regs()[REG_RIP]))
        # Step over the breakpoint as gdb does: remove, step, insert.
        c.cmd("z0,%s,1" % bp)
        c.cmd("s")
        c.cmd("Z0,%s,1" % bp)
    report("restart-keeps-breakpoints",
           hits == [("T05", syms["guest_main"])] * 2, "stops %r" % hits)
    c.send("k")


def scenario_step_fault(port, elf):
    """(fault=1) A single step over ud2 ends at the first instruction of the
    guest's #UD handler: the exception replaces the instruction."""
    _, _, _, syms = elf_info(elf)
    out = subprocess.run(["objdump", "-d", elf], capture_output=True, text=True).stdout
    ud2 = [int(l.split(":")[0], 16) for l in out.split("\n") if l.rstrip().endswith("ud2")
           and l.startswith(" ")]
    c = Rsp(port)
    c.cmd("?")
    c.cmd("Z0,%x,1" % ud2[0])
    stop = c.cmd("c")
    at = c.regs()[REG_RIP]
    c.cmd("z0,%x,1" % ud2[0])
    stop2 = c.cmd("s")
    rip = c.regs()[REG_RIP]
    stub6 = syms["trap_stubs"] + 6 * 16  # rt/trap_stubs.S: 16 bytes per vector
    report("step-into-exception", stop.startswith("T05") and at == ud2[0] and
           stop2.startswith("T05") and rip == stub6,
           "ud2 at 0x%x, stopped at 0x%x, stepped to 0x%x, #UD stub 0x%x" % (
               ud2[0], at, rip, stub6))
    c.send("c")
    end = c.recv()
    report("step-fault-exit", end == "W0f", "end %r" % end)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    scenario, port, elf = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fn = {"basic": scenario_basic, "interrupt": scenario_interrupt,
          "attach": scenario_attach, "restart": scenario_restart,
          "step-fault": scenario_step_fault}[scenario]
    try:
        fn(port, elf)
    except (OSError, RspError, ValueError, KeyError) as e:
        report(scenario + "-session", False, "%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The serial console in a real terminal (a pty): raw mode, Ctrl-A escapes,
input reaching the guest, the terminal restored on every way out, and
--on-reset restart. Prints one PASS/FAIL line per case."""
import os, pty, select, signal, subprocess, sys, termios, time

BUILD = os.environ.get("BUILD", "build")
ISOLA = os.path.join(BUILD, "isola")
ACCEL = sys.argv[1] if len(sys.argv) > 1 else "soft"
GUESTS = os.path.join(BUILD, "guests")


def result(name, ok, why=""):
    print(("PASS: console/%s/%s" % (name, ACCEL)) if ok else
          ("FAIL: console/%s/%s (%s)" % (name, ACCEL, why)), flush=True)


class Session:
    def __init__(self, args):
        self.master, self.slave = pty.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen([ISOLA, "run", "--accel", ACCEL] + args,
                                     stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, close_fds=True,
                                     start_new_session=True)
        self.out = b""

    def expect(self, what, timeout=30):
        end = time.monotonic() + timeout
        while what not in self.out:
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    return what in self.out
        return True

    def expect_count(self, what, n, timeout=30):
        end = time.monotonic() + timeout
        while self.out.count(what) < n:
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.master], [], [], max(left, 0))
            if not r:
                return False
            try:
                self.out += os.read(self.master, 4096)
            except OSError:
                return False
        return True

    def send(self, data):
        os.write(self.master, data)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def restored(self):
        return termios.tcgetattr(self.slave) == self.before

    def raw_now(self):
        attrs = termios.tcgetattr(self.slave)
        return not (attrs[3] & termios.ICANON) and not (attrs[3] & termios.ECHO)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def tail(s):
    return s.out[-300:].decode(errors="replace").replace("\r", "").replace("\n", " | ")


def test_escapes_and_quit():
    s = Session(["--kernel", os.path.join(GUESTS, "echo.elf")])
    try:
        if not s.expect(b"echo: ready"):
            return result("quit", False, "no ready line: " + tail(s))
        result("raw-mode", s.raw_now(), "terminal not in raw mode while the guest runs")
        s.send(b"abc")
        result("input", s.expect(b"abc", 10), "typed bytes not echoed: " + tail(s))
        s.send(b"\x01\x01")
        result("ctrl-a-ctrl-a", s.expect(b"got ^A", 10), "Ctrl-A Ctrl-A did not send ^A")
        s.send(b"\x01h")
        result("ctrl-a-h", s.expect(b"Ctrl-A x", 10), "no help after Ctrl-A h: " + tail(s))
        s.send(b"\x01x")
        rc = s.wait()
        result("ctrl-a-x", rc == 0, "status %s: %s" % (rc, tail(s)))
        result("restored-after-quit", s.restored(), "terminal settings not restored")
    finally:
        s.close()


def test_sigterm():
    s = Session(["--kernel", os.path.join(GUESTS, "echo.elf")])
    try:
        if not s.expect(b"echo: ready"):
            return result("sigterm", False, "no ready line: " + tail(s))
        s.proc.send_signal(signal.SIGTERM)
        rc = s.wait()
        result("sigterm", rc == 128 + signal.SIGTERM, "status %s, want 143" % rc)
        result("restored-after-sigterm", s.restored(), "terminal settings not restored")
    finally:
        s.close()


def test_restart():
    s = Session(["--kernel", os.path.join(GUESTS, "reset.elf"), "--on-reset", "restart"])
    try:
        ok = s.expect_count(b"writing 0x06", 3, 60)
        starts = s.out.count(b"writing 0x06")
        s.proc.send_signal(signal.SIGTERM)
        s.wait()
        result("on-reset-restart", ok and starts >= 2,
               "guest started %d times: %s" % (starts, tail(s)))
    finally:
        s.close()


if __name__ == "__main__":
    test_escapes_and_quit()
    test_sigterm()
    test_restart()

"""The console scripts as processes of their own, forked from a server that imported them once.

Starting ``recorder-sync`` costs about 0.3 s of CPU before the command does anything, almost
all of it importing SQLAlchemy, its ORM and our modules, and the app tests start thousands of
commands. So each pytest worker keeps one server process that imported every module of the
package (and the libraries commands load lazily) when it started, and forks a fresh process
for each command. That process is what ``subprocess.run([script, *args], env=env,
capture_output=True, text=True)`` would start, apart from the interpreter's start itself:

- its environment is exactly ``env``, its working folder, umask and standard input the
  caller's, and its descriptors 1 and 2 the captured output (an ffmpeg it starts writes there
  too); no other descriptor stays open;
- it has its own signal handlers, locks and exit status, the caller can kill it, and it ends
  as the console script does (``exit_with``: threads joined, exit handlers run,
  ``SystemExit`` and tracebacks turned into the exit status as Python does).

What a fork cannot redo is what a module read from the environment when it was imported: the
server's values would stay. ``tests/apps/test_forked_cli.py`` holds this runner to the same
results as an ``exec`` of the console script, and ``RECORDER_SYNC_TEST_EXEC=1`` makes
``clirunner.run_script`` exec every command instead.

The server forks a handler per request, and the handler forks the command and reports its
process id and then its exit status on the request's connection; the server never runs
command code itself and so stays as it was after importing.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import locale
import os
import pkgutil
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NoReturn

# the console scripts, as pyproject.toml's [project.scripts] names them
ENTRIES = {
    "recorder-sync": "recorder_sync.apps.cli",
    "recorder-audit": "recorder_sync.apps.audit_cli",
    "recorder-replay": "recorder_sync.apps.replay_cli",
}
# what commands import lazily from outside the package: the database dialects, migrations
LIBRARIES = (
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "alembic.command",
    "alembic.config",
    "alembic.script",
    "alembic.runtime.migration",
)


def serve(path: str) -> None:
    """The server: import everything, then fork a handler per connection to ``path`` until
    standard input (a pipe from the pytest worker) ends."""
    import recorder_sync

    for name in LIBRARIES:
        importlib.import_module(name)
    for module in pkgutil.walk_packages(recorder_sync.__path__, "recorder_sync."):
        importlib.import_module(module.name)
    # what is imported stays: the collector need not walk it in each fork (walking it would
    # copy every page the fork shares with the server)
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready:  # the worker is gone, or done
            return
        conn, _ = listener.accept()
        if os.fork() == 0:
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _handle(conn)
            finally:
                os._exit(0)  # a handler never returns into the server's loop
        conn.close()


def _handle(conn: socket.socket) -> None:
    """A handler: read one request, fork its command, report the pid, then the exit status."""
    _, fds, _, _ = socket.recv_fds(conn, 1, 3)
    data = b""
    while chunk := conn.recv(1 << 16):
        data += chunk
    request = json.loads(data)
    pid = os.fork()
    if pid == 0:
        try:
            _become(request, fds)
        except BaseException:  # setting the process up failed: say so on its stderr
            sys.excepthook(*sys.exc_info())
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    conn.sendall(b"%d\n" % pid)
    _, status = os.waitpid(pid, 0)
    conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
    os._exit(0)


def _become(request: dict[str, object], fds: list[int]) -> NoReturn:
    """The command's process: what an exec of the script would have set up, its main, and
    the end of an interpreter."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2:
            with contextlib.suppress(OSError):  # the listing's own descriptor, already closed
                os.close(int(name))
    os.chdir(str(request["cwd"]))
    os.umask(int(str(request["umask"])))
    env = request["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ is read by the C library at tzset, as at a process start
    tempfile.tempdir = None  # TMPDIR likewise: the next gettempdir() reads it again
    entry, args = str(request["entry"]), [str(a) for a in request["args"]]  # type: ignore[attr-defined]
    sys.argv = [entry, *args]
    main = importlib.import_module(ENTRIES[entry]).main
    try:
        status: object = main(args)
    except SystemExit as stop:
        status = stop.code
    except BaseException:
        sys.excepthook(*sys.exc_info())
        status = 1
    os._exit(_end(status))


def _end(status: object) -> int:
    """What an interpreter does at its end, to the point where it matters to anyone outside:
    the exit status from ``SystemExit``'s code, non-daemon threads joined, exit handlers run,
    the standard streams flushed. Tearing down the modules is left out: in a fork that is the
    slow part (it touches every object the server imported) and nothing outside can see it."""
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:
        print(status, file=sys.stderr)
        code = 1
    # as the console scripts end (recorder_sync.apps.cli.exit_with): what the command left
    # is not collected either, so a connection it failed to close would show here too
    gc.freeze()
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # as Python exits when it cannot flush its output
    return code & 0xFF


class _Server:
    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="forked-cli-")
        self.path = os.path.join(self.folder.name, "socket")
        code = "import sys; sys.path.insert(0, sys.argv[1]); import forked_cli; forked_cli.serve(sys.argv[2])"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(Path(__file__).parent), self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line != b"ready\n":
            raise RuntimeError(f"the command fork server did not start: {line!r}")


_server: _Server | None = None
_lock = threading.Lock()


def _get_server() -> _Server:
    global _server
    with _lock:
        if _server is None or _server.process.poll() is not None:
            _server = _Server()
        return _server


def run(
    entry: str, args: Sequence[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([entry, *args], env=env, capture_output=True, text=True,
    timeout=timeout)``, with the process forked from the server."""
    server = _get_server()
    umask = os.umask(0o077)  # read it (there is no other way), then put it back
    os.umask(umask)
    request = {"entry": entry, "args": list(args), "env": env, "cwd": os.getcwd(), "umask": umask}
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
    ):
        conn.connect(server.path)
        # standard input is the caller's, as subprocess.run leaves it (or nothing, if closed)
        stdin = 0 if _is_open(0) else os.open(os.devnull, os.O_RDONLY)
        try:
            socket.send_fds(conn, [b"r"], [stdin, out.fileno(), err.fileno()])
        finally:
            if stdin != 0:
                os.close(stdin)
        conn.sendall(json.dumps(request).encode())
        conn.shutdown(socket.SHUT_WR)
        replies = _Replies(conn)
        pid = replies.next()
        conn.settimeout(timeout)
        try:
            code = replies.next()
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            conn.settimeout(None)
            replies.next()  # the handler has reaped it
            raise subprocess.TimeoutExpired([entry, *args], timeout, _text(out), _text(err)) from None
        return subprocess.CompletedProcess([entry, *args], code, _text(out), _text(err))


class _Replies:
    """The handler's replies, one integer per line."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def next(self) -> int:
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(64)
            if not chunk:
                raise RuntimeError("the command fork server's handler ended without an answer")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return int(line)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _text(f: IO[bytes]) -> str:
    """The captured bytes as ``text=True`` gives them: locale encoding, universal newlines."""
    f.seek(0)
    text = f.read().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")

"""How a process connects (Store's Connection): the notice processor is in place before the start-up
ends, so a FATAL that arrives right behind ReadyForQuery (a backend terminated just then) is a JSON
log line and not libpq's raw text; a host that accepts and never answers is passed over after
`connect_timeout`, as libpq's own PQconnectdbParams does, and when every host hangs the connection
fails within the time of each."""
import json
import socket
import struct
import threading
import time


def message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


class FakeServer:
    """Speaks just enough of the PostgreSQL protocol on a loopback port: `behaviour` is "hang" (accept,
    never answer) or "fatal-after-ready" (a start-up that succeeds, then at once, in the same packet, the
    FATAL PostgreSQL sends a terminated backend, and the connection closed)."""

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            if self.behaviour == "fatal-after-ready":
                threading.Thread(target=self.start_up_then_fatal, args=(connection,), daemon=True).start()

    @staticmethod
    def start_up_then_fatal(connection: socket.socket) -> None:
        while True:
            length = struct.unpack("!I", connection.recv(4, socket.MSG_WAITALL))[0]
            packet = connection.recv(length - 4, socket.MSG_WAITALL)
            if struct.unpack("!I", packet[:4])[0] in (80877103, 80877104):  # SSL or GSS encryption request
                connection.sendall(b"N")
                continue
            break
        parameters = b"".join(message(b"S", name + b"\0" + value + b"\0") for name, value in [
            (b"server_version", b"15.0"), (b"in_hot_standby", b"off"), (b"default_transaction_read_only", b"off"),
            (b"integer_datetimes", b"on"), (b"client_encoding", b"UTF8")])
        fatal = message(b"E", b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0")
        connection.sendall(message(b"R", struct.pack("!I", 0)) + parameters
                           + message(b"K", struct.pack("!II", 1, 2)) + message(b"Z", b"I") + fatal)
        connection.close()

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


def etl(stack, url: str, *command: str):
    started = time.monotonic()
    result = stack.etl(*command, env={"DATABASE_URL": url}, check=False)
    return result, time.monotonic() - started


def test_a_fatal_right_after_start_up_is_a_json_line(stack):
    server = FakeServer("fatal-after-ready")
    try:
        result, _ = etl(stack, f"postgresql://kasparro_etl@127.0.0.1:{server.port}/kasparro?sslmode=disable", "run")
    finally:
        server.close()
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines
    for line in lines:
        json.loads(line)  # libpq's default processor would print "FATAL:  terminating connection ..." raw
    assert "terminating connection due to administrator command" in result.stderr


def test_a_hung_host_is_passed_over_after_connect_timeout(stack):
    hung = FakeServer("hang")
    try:
        result, seconds = etl(stack, f"postgresql://kasparro_etl@127.0.0.1:{hung.port},127.0.0.1:"
                                     f"{stack.env['PG_PORT']}/kasparro?connect_timeout=2", "status")
        assert result.returncode == 0, result.stderr
        assert 1.9 <= seconds < 10, seconds
        assert "csv" in result.stdout
        # Every host hangs: the connection fails after each host's time, with libpq's words.
        other = FakeServer("hang")
        try:
            result, seconds = etl(stack, f"postgresql://kasparro_etl@127.0.0.1:{hung.port},127.0.0.1:"
                                         f"{other.port}/kasparro?connect_timeout=2", "status")
        finally:
            other.close()
    finally:
        hung.close()
    assert result.returncode != 0
    assert 3.9 <= seconds < 10, seconds
    assert "timeout expired" in result.stderr

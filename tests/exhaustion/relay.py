"""A TCP relay between the proxy and the core that reads, with h11 (an HTTP/1.1 parser other
than the proxy's and the core's), every request the proxy sends upstream, so a test can tell
whether a smuggled request would have reached the core. The bytes are forwarded unchanged."""

import socket
import threading

import h11


class Relay:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        # (method, target) of each request head parsed, in order; "unparsable" records a
        # stream h11 refused, which the core's parser might read differently.
        self.requests: list[tuple[str, str]] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def targets(self) -> list[str]:
        with self.lock:
            return [target for _, target in self.requests]

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                downstream.close()
                continue
            with self.lock:
                self.connections += 1
            parser = _RequestReader(self._record)
            threading.Thread(target=_pump, args=(downstream, upstream, parser.feed), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, downstream, None), daemon=True).start()

    def _record(self, method: str, target: str) -> None:
        with self.lock:
            self.requests.append((method, target))


def _pump(source: socket.socket, sink: socket.socket, observe) -> None:
    try:
        while data := source.recv(65536):
            if observe:
                observe(data)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class _RequestReader:
    """Parses a stream of requests as a server would; answers nothing (the core does), but
    tells h11 it answered so that it reads the next request of a kept-alive connection."""

    def __init__(self, record):
        self.record = record
        self.conn = h11.Connection(h11.SERVER)
        # Set once nothing more on the connection is a request (closing, or unparsable).
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.conn.receive_data(data)
        try:
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    return
                if isinstance(event, h11.Request):
                    self.record(event.method.decode(), event.target.decode("latin-1"))
                elif isinstance(event, h11.EndOfMessage):
                    self.conn.send(h11.Response(status_code=204, headers=[]))
                    self.conn.send(h11.EndOfMessage())
                    if self.conn.their_state is not h11.DONE or self.conn.our_state is not h11.DONE:
                        # `Connection: close`: the core reads nothing more on this connection.
                        self.broken = True
                        return
                    self.conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except h11.RemoteProtocolError:
            self.broken = True
            self.record("?", "unparsable")

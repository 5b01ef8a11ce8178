"""Real redis-server processes for the Redis-tier tests: a standalone server or a 3-master Redis
Cluster (redis-cli --cluster create), each on a loopback ephemeral port with its own temporary
folder, registered with harness.spawn so they die by PID at cleanup, at exit, or with this
interpreter. Debian's /usr/bin/redis-server and /usr/bin/redis-cli; stdlib only."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

import harness as h

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def available():
    return os.access(REDIS_SERVER, os.X_OK) and os.access(REDIS_CLI, os.X_OK)


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def free_port(cluster=False):
    """A port nothing listens on; for cluster nodes also port + 10000 (the cluster bus)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster or (port <= 55535 and not _accepts(port + 10000)):
            return port


def cli(port, *args, timeout=30):
    """redis-cli against 127.0.0.1:port; returns stdout without the trailing newline."""
    r = subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    return r.stdout.strip()


class RedisServer:
    def __init__(self, port=None, extra=(), cluster=False):
        self.port = port or free_port(cluster)
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="portico-redis-")
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning",
                "--daemonize", "no"] + self.extra
        self.proc = h.spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.wait_until(lambda: _accepts(self.port) or self.proc.poll() is not None,
                     message=f"redis-server on {self.port}")
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server on port {self.port} exited at start")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill(self):
        """SIGKILL, as a crash: clients see the connection reset."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc:
            h._forget(self.proc)
        self.proc = None

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        return cli(self.port, *args)


class RedisCluster:
    """Three masters, no replicas, slots spread evenly by redis-cli --cluster create."""

    def __init__(self, n=3):
        self.nodes = [RedisServer(extra=["--cluster-enabled", "yes", "--cluster-config-file",
                                         "nodes.conf", "--cluster-node-timeout", "2000",
                                         "--repl-diskless-sync-delay", "0"],
                                  cluster=True) for _ in range(n)]
        addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
        cli(self.nodes[0].port, "--cluster", "create", *addrs, "--cluster-yes")
        for node in self.nodes:
            h.wait_until(lambda node=node: "cluster_state:ok" in node.cli("cluster", "info"),
                         timeout=20, message="cluster_state:ok")

    def ids(self):
        return [n.cli("cluster", "myid") for n in self.nodes]

    def addresses(self):
        return [f"127.0.0.1:{n.port}" for n in self.nodes]

    def start_reshard(self, slots, src=0, dst=1):
        """redis-cli --cluster reshard in the background; returns the Popen (wait() on it)."""
        ids = self.ids()
        return h.spawn([REDIS_CLI, "--cluster", "reshard", f"127.0.0.1:{self.nodes[0].port}",
                        "--cluster-from", ids[src], "--cluster-to", ids[dst],
                        "--cluster-slots", str(slots), "--cluster-yes",
                        "--cluster-pipeline", "10"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def slots_of(self, i):
        """How many slots node i serves (from CLUSTER SHARDS-free CLUSTER NODES)."""
        me = self.ids()[i]
        for line in self.nodes[0].cli("cluster", "nodes").splitlines():
            parts = line.split()
            if parts and parts[0] == me:
                total = 0
                for r in parts[8:]:
                    if r.startswith("["):
                        continue
                    a, _, b = r.partition("-")
                    total += (int(b) if b else int(a)) - int(a) + 1
                return total
        return 0

    def close(self):
        for n in self.nodes:
            n.close()


def make_server(owner, **kw):
    s = RedisServer(**kw)
    h.add_cleanup(owner, s.close)
    return s


def make_cluster(owner, **kw):
    c = RedisCluster(**kw)
    h.add_cleanup(owner, c.close)
    return c


class TcpForwarder:
    """A loopback TCP relay to 127.0.0.1:target, to cut one client off from Redis: cut() closes
    every relayed connection and refuses new ones until restore()."""

    def __init__(self, target_port):
        import threading
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.open = True
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        import threading
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if not self.open or self.closed:
                    c.close()
                    continue
                try:
                    u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                except OSError:
                    c.close()
                    continue
                u.settimeout(None)
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.open = False
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        with self.lock:
            self.open = True

    def close(self):
        self.closed = True
        self.cut()
        self.sock.close()

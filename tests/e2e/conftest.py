"""The real server process on loopback, on the real default model.

`start_server(*flags)` spawns `gemma-serve serve --port 0` (the kernel picks a free port; the
server prints it), waits for /health, and stops it with SIGTERM at the end of the test or
module, asserting a clean exit."""
import os
import re
import signal
import subprocess
import threading
import time

import httpx2 as httpx
import openai
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BIN = os.environ.get("GS_BIN", os.path.join(ROOT, "build/server/gemma-serve"))
MODEL = os.environ.get("GS_MODEL_PATH") or open(os.path.join(ROOT, ".model-path")).read().strip()


class Server:
    def __init__(self, *flags, env=None, model=None):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--model", model or MODEL, "--port", "0", "--threads", "2", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})})
        self.lines = []
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        assert ready.wait(60), "the server did not start"
        assert self.port, "".join(self.lines)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "".join(self.lines)
            time.sleep(0.1)
        raise AssertionError("the server never became healthy:\n" + "".join(self.lines))

    def client(self, api_key="unused", **kw):
        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, **kw)

    def log(self):
        return "".join(self.lines)

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        return rc


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    assert s.stop() == 0, s.log()


@pytest.fixture(scope="session")
def client(server):
    return server.client()


@pytest.fixture
def start_server():
    started = []

    def start(*flags, env=None, model=None):
        s = Server(*flags, env=env, model=model)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.returncode is None:  # a test that stopped its server checked the exit itself
            assert s.stop() == 0, s.log()


def metric(server, name, labels=""):
    """A value from /metrics (the first sample whose name and labels contain the given ones)."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("gemma_serve:" + name) and labels in line and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name + labels)

"""The HTTP layer byte by byte over raw sockets: SSE framing, body limits and framing, request
smuggling, header bounds, auth, CORS, disconnects, overload and shutdown."""
import json
import os
import signal
import socket
import threading
import time

import httpx2 as httpx
import pytest

from conftest import metric

CHAT_BODY = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                        "temperature": 0, "stream": True,
                        "stream_options": {"include_usage": True}}).encode()


def raw(server, data, read_for=2.0):
    """Sends bytes, returns everything the server sends until it closes or read_for passes."""
    s = socket.create_connection(("127.0.0.1", server.port))
    s.settimeout(read_for)
    s.sendall(data)
    out = b""
    deadline = time.time() + read_for
    try:
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def request(method, path, body=b"", headers=()):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += list(headers)
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                        for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def test_sse_framing_bytes(server):
    resp = raw(server, request("POST", "/v1/chat/completions", CHAT_BODY,
                               ["Content-Type: application/json"]), read_for=20)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Type: text/event-stream" in head
    assert b"Cache-Control: no-cache" in head
    events = dechunk(body).decode()
    assert events.endswith("data: [DONE]\n\n")
    frames = events.split("\n\n")[:-1]
    assert all(f.startswith("data: ") for f in frames), frames
    payloads = [json.loads(f[6:]) for f in frames[:-1]]
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(p["usage"] is None for p in payloads[:-1])
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["completion_tokens"] == 4
    assert payloads[-2]["choices"][0]["finish_reason"] == "length"
    assert payloads[-2]["choices"][0]["delta"] == {}
    assert len({p["id"] for p in payloads}) == 1


def test_body_over_the_limit_is_413_and_closes(start_server):
    s = start_server("--max-body-mb", "1")
    big = b"x" * (2 << 20)
    resp = raw(s, request("POST", "/v1/chat/completions", big, ["Content-Type: application/json"]))
    assert resp.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in resp
    assert json.loads(resp.partition(b"\r\n\r\n")[2])["error"]["message"]


def test_chunked_and_compressed_bodies_are_refused_unread(server):
    chunk = b"8\r\n{\"a\":1}\r\n0\r\n\r\n"
    resp = raw(server, request("POST", "/v1/chat/completions", chunk,
                               ["Transfer-Encoding: chunked", "Content-Type: application/json"]))
    assert resp.startswith(b"HTTP/1.1 411")
    resp = raw(server, request("POST", "/v1/chat/completions", b"\x1f\x8b" + b"0" * 20,
                               ["Content-Encoding: gzip", "Content-Type: application/json"]))
    assert resp.startswith(b"HTTP/1.1 415")
    resp = raw(server, request("POST", "/v1/chat/completions", b"{}",
                               ["Content-Length: 2", "Content-Length: 2"]))
    assert resp.startswith(b"HTTP/1.1 400")
    resp = raw(server, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 411")


def test_no_request_smuggling_after_an_early_reject(server):
    hidden = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    smuggle = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"\r\n" + hidden)
    resp = raw(server, smuggle)
    assert resp.count(b"HTTP/1.1") == 1, resp
    assert b'"object":"list"' not in resp


def test_header_bounds(server):
    many = [f"X-H{i}: v" for i in range(150)]
    assert raw(server, request("GET", "/v1/models", headers=many)).startswith(b"HTTP/1.1 431")
    long_value = ["X-Big: " + "a" * 7000, "X-Big2: " + "b" * 7000, "X-Big3: " + "c" * 7000]
    resp = raw(server, request("GET", "/v1/models", headers=long_value))
    assert resp.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400"))
    assert httpx.get(server.url + "/health").status_code == 200


def test_client_headers_are_not_reflected(server):
    resp = raw(server, request("GET", "/v1/nope", headers=["X-Request-Id: a%0D%0ASet-Cookie: x=1",
                                                           "REMOTE_ADDR: 6.6.6.6"]))
    head = resp.partition(b"\r\n\r\n")[0]
    assert b"Set-Cookie" not in head
    assert b"6.6.6.6" not in resp


def test_api_keys(start_server, tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text("file-key\n")
    s = start_server("--api-key", "k1,k2", "--api-key-file", str(key_file),
                     env={"GEMMA_SERVE_API_KEY": "env-key"})
    url = s.url + "/v1/models"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url).json()["error"]["code"] == "invalid_api_key"
    for bad in ["Bearer k", "Bearer k1x", "k1", "Basic k1", "Bearer K1", "Bearer k1%20"]:
        assert httpx.get(url, headers={"Authorization": bad}).status_code == 401, bad
    # A trailing space (which HTTP clients refuse to send) goes over a raw socket.
    resp = raw(s, request("GET", "/v1/models", headers=["Authorization: Bearer k1 x"]))
    assert resp.startswith(b"HTTP/1.1 401")
    assert httpx.get(url + "?api_key=k1").status_code == 401
    for good in ["k1", "k2", "file-key", "env-key"]:
        assert httpx.get(url, headers={"Authorization": "Bearer " + good}).status_code == 200
    assert httpx.get(s.url + "/health").status_code == 200, "/health is public by default"
    assert httpx.get(s.url + "/metrics").status_code == 401
    assert httpx.post(s.url + "/tokenize", json={"prompt": "x"}).status_code == 401
    client = s.client(api_key="k2")
    assert client.chat.completions.create(
        model="", messages=[{"role": "user", "content": "Hi"}], max_tokens=2).choices


def test_cors(start_server):
    s = start_server("--cors-origin", "https://app.example")
    r = httpx.options(s.url + "/v1/chat/completions",
                      headers={"Origin": "https://app.example",
                               "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "Authorization" in r.headers["access-control-allow-headers"]
    r = httpx.get(s.url + "/v1/models", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = httpx.options(s.url + "/v1/models", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_disconnect_mid_stream_frees_the_request(server):
    before = metric(server, "request_success_total", 'finished_reason="abort"')
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 5000, "stream": True,
                       "ignore_eos": True}).encode()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(request("POST", "/v1/completions", body, ["Content-Type: application/json"]))
    got = b""
    while got.count(b"data: ") < 5:
        got += s.recv(65536)
    assert metric(server, "num_requests_running") == 1
    s.close()
    deadline = time.time() + 1.0
    while time.time() < deadline and metric(server, "num_requests_running") != 0:
        time.sleep(0.05)
    assert metric(server, "num_requests_running") == 0
    assert metric(server, "kv_cache_usage_perc") == 0
    deadline = time.time() + 2.0
    while time.time() < deadline and metric(
            server, "request_success_total", 'finished_reason="abort"') == before:
        time.sleep(0.05)
    assert metric(server, "request_success_total", 'finished_reason="abort"') == before + 1


def test_disconnect_of_a_non_streaming_request_frees_it(server):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 5000,
                       "ignore_eos": True}).encode()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(request("POST", "/v1/completions", body, ["Content-Type: application/json"]))
    deadline = time.time() + 5
    while time.time() < deadline and metric(server, "num_requests_running") != 1:
        time.sleep(0.02)
    assert metric(server, "num_requests_running") == 1
    s.close()
    deadline = time.time() + 1.0
    while time.time() < deadline and metric(server, "num_requests_running") != 0:
        time.sleep(0.05)
    assert metric(server, "num_requests_running") == 0


def test_overload_gets_503_with_retry_after_and_health_stays_fast(start_server):
    s = start_server("--max-num-seqs", "1", "--max-num-waiting", "1", "--http-threads", "3")
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "stream": True,
                       "ignore_eos": True}).encode()
    socks = []
    # One running, then one waiting: the engine queue is full.
    for gauge in ["num_requests_running", "num_requests_waiting"]:
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(request("POST", "/v1/completions", body, ["Content-Type: application/json"]))
        socks.append(c)
        deadline = time.time() + 10
        while metric(s, gauge) != 1 and time.time() < deadline:
            time.sleep(0.02)
        assert metric(s, gauge) == 1
    r = httpx.post(s.url + "/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=5)
    assert r.status_code == 503
    assert r.headers["retry-after"]
    # The third and last HTTP worker held by a client that sends its headers slowly: every worker
    # is busy, so further connections are refused fast, and /health still answers.
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
    socks.append(c)
    time.sleep(0.3)
    t0 = time.time()
    r = httpx.post(s.url + "/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=5)
    assert r.status_code == 503 and time.time() - t0 < 1
    t0 = time.time()
    assert httpx.get(s.url + "/health", timeout=5).status_code == 200
    assert time.time() - t0 < 0.5
    for c in socks:
        c.close()


def test_sigterm_lets_a_stream_finish_then_exits_0(start_server):
    s = start_server("--shutdown-grace", "20")
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 60, "stream": True,
                       "ignore_eos": True}).encode()
    c = socket.create_connection(("127.0.0.1", s.port))
    c.settimeout(30)
    c.sendall(request("POST", "/v1/completions", body, ["Content-Type: application/json"]))
    got = c.recv(65536)
    assert b"200" in got.split(b"\r\n")[0]
    s.proc.send_signal(signal.SIGTERM)
    while not got.endswith(b"0\r\n\r\n"):
        chunk = c.recv(65536)
        if not chunk:
            break
        got += chunk
    assert b"data: [DONE]" in got
    assert dechunk(got.partition(b"\r\n\r\n")[2]).count(b'"text"') >= 60
    assert s.proc.wait(30) == 0
    assert "shutting down" in s.log()
    with pytest.raises(httpx.HTTPError):
        httpx.get(s.url + "/health", timeout=2)


def test_health_is_503_while_loading_and_a_fifo_model_fails_cleanly(tmp_path):
    import subprocess
    from conftest import BIN, MODEL
    # The server binds before it loads: /health (and every model route) answers 503 until the
    # model is ready. Polled from the moment the port is known.
    p = subprocess.Popen([BIN, "serve", "--model", MODEL, "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while "listening on" not in line:
            line = p.stdout.readline()
            assert line, "server exited"
        url = "http://127.0.0.1:" + line.split("http://127.0.0.1:")[1].split()[0]
        statuses = []
        deadline = time.time() + 60
        while time.time() < deadline:
            r = httpx.get(url + "/health", timeout=5)
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and r.json()["error"]["message"] == "Loading model"
        assert statuses[0] == 503 and statuses[-1] == 200
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    r = subprocess.run([BIN, "serve", "--model", str(fifo), "--port", "0"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "not a regular file" in r.stderr


def test_config_file_aliases_and_json_logs(start_server):
    from conftest import ROOT
    s = start_server("--config", os.path.join(ROOT, "configs/server.json"), "--log-format", "json")
    ids = [m["id"] for m in httpx.get(s.url + "/v1/models").json()["data"]]
    assert ids == ["gemma-3-270m", "gemma3"]
    r = s.client().chat.completions.create(model="gemma3", messages=[{"role": "user",
                                                                      "content": "Hi"}],
                                           max_tokens=3)
    assert r.model == "gemma-3-270m"
    deadline = time.time() + 5
    while time.time() < deadline and '"path":"/v1/chat/completions"' not in s.log():
        time.sleep(0.05)
    lines = [json.loads(l) for l in s.log().splitlines() if l.startswith("{")]
    req = [l for l in lines if l.get("path") == "/v1/chat/completions"]
    assert req and req[0]["status"] == 200 and req[0]["id"] == r.id
    assert req[0]["prompt_tokens"] == r.usage.prompt_tokens
    assert req[0]["completion_tokens"] == r.usage.completion_tokens
    assert req[0]["ttft_s"] >= 0 and req[0]["total_s"] >= req[0]["ttft_s"]


def test_sse_pings_while_a_stream_waits(start_server):
    s = start_server("--max-num-seqs", "1", "--sse-ping-interval", "1")
    hog = json.dumps({"prompt": "Once upon a time", "max_tokens": 600, "stream": True,
                      "ignore_eos": True}).encode()
    h = socket.create_connection(("127.0.0.1", s.port))
    h.sendall(request("POST", "/v1/completions", hog, ["Content-Type: application/json"]))
    time.sleep(0.3)
    waiting = json.dumps({"prompt": "Hello", "max_tokens": 2, "stream": True}).encode()
    resp = raw(s, request("POST", "/v1/completions", waiting, ["Content-Type: application/json"]),
               read_for=2.5)
    h.close()
    assert resp.startswith(b"HTTP/1.1 200")
    assert b": ping\n\n" in dechunk(resp.partition(b"\r\n\r\n")[2])


def test_an_error_after_streaming_began_is_an_error_event(start_server):
    # No grace period: SIGTERM aborts the stream, which must end with an error event.
    s = start_server("--shutdown-grace", "0")
    body = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3000,
                       "stream": True, "ignore_eos": True}).encode()
    c = socket.create_connection(("127.0.0.1", s.port))
    c.settimeout(30)
    c.sendall(request("POST", "/v1/chat/completions", body, ["Content-Type: application/json"]))
    got = c.recv(65536)
    while got.count(b"data: ") < 3:
        got += c.recv(65536)
    s.proc.send_signal(signal.SIGTERM)
    while not got.endswith(b"0\r\n\r\n"):
        chunk = c.recv(65536)
        if not chunk:
            break
        got += chunk
    events = dechunk(got.partition(b"\r\n\r\n")[2]).decode().split("\n\n")
    errors = [json.loads(e[6:]) for e in events if e.startswith("data: {\"error\"")]
    assert len(errors) == 1 and "shutting down" in errors[0]["error"]["message"]
    assert s.proc.wait(30) == 0


def test_health_fails_while_the_engine_loop_is_silent(start_server):
    # One 4,096-token step takes seconds on the CPU; with --health-stall 1 the loop's heartbeat
    # is too old during it, which is what a stuck engine looks like from outside.
    s = start_server("--max-num-batched-tokens", "4096", "--health-stall", "1")
    prompt = " ".join(["word"] * 4000)
    done = threading.Event()

    def long_request():
        httpx.post(s.url + "/v1/completions", json={"prompt": prompt, "max_tokens": 1},
                   timeout=120)
        done.set()

    threading.Thread(target=long_request, daemon=True).start()
    statuses = []
    while not done.is_set():
        statuses.append(httpx.get(s.url + "/health", timeout=5).status_code)
        time.sleep(0.2)
    assert 503 in statuses, statuses
    deadline = time.time() + 5
    while httpx.get(s.url + "/health", timeout=5).status_code != 200:
        assert time.time() < deadline
        time.sleep(0.1)
    r = httpx.get(s.url + "/health", timeout=5)
    assert r.status_code == 200

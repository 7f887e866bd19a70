"""The queue under pressure, on loopback: 429 beyond the bound, disconnects free the model, a
bounded load test (50 requests from 8 clients) ends with every request answered or refused and
the server's memory back at its idle level."""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx
import openai
import pytest
from serve_helpers import API_KEY, MODEL_NAME

LONG = 20000  # answer tokens: ~30 s of generation, so it is surely still running when the test acts
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def body(max_tokens: int, stream: bool = False, video: str = "clip.mp4") -> dict:
    content = [
        {"type": "video_url", "video_url": {"url": video}},
        {"type": "text", "text": "What happens?"},
    ]
    return {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "stream": stream,
    }


class LongStream:
    """A streamed answer of LONG tokens, read until it is surely generating, closed on demand."""

    def __init__(self, server):
        self.http = httpx.Client(timeout=60)
        self.response = self.http.send(
            self.http.build_request(
                "POST", f"{server.url}/v1/chat/completions", json=body(LONG, True), headers=HEADERS
            ),
            stream=True,
        )
        assert self.response.status_code == 200
        self.lines = self.response.iter_lines()
        self.pieces = [self._next_piece() for _ in range(3)]

    def _next_piece(self) -> str:
        for line in self.lines:
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                if delta.get("content"):
                    return delta["content"]
        raise AssertionError("the stream ended early")

    def disconnect(self) -> None:
        self.response.close()
        self.http.close()


def raw_request(server, payload: dict) -> socket.socket:
    """A non-streaming request sent on a bare socket, so the test can hang up at any moment."""
    url = urlparse(server.url)
    data = json.dumps(payload).encode()
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def wait_for(server, predicate, what: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = server.health()["queue"]
        if predicate(queue):
            return queue
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {server.health()}")


def test_full_queue_answers_429_and_a_mid_stream_disconnect_frees_the_model(api_server):
    api_server.wait_idle()
    before = api_server.health()["queue"]
    client = openai.OpenAI(
        base_url=f"{api_server.url}/v1", api_key=API_KEY, max_retries=0, timeout=120
    )
    running = LongStream(api_server)
    with ThreadPoolExecutor(2) as pool:
        queued = [pool.submit(client.chat.completions.create, **body(4)) for _ in range(2)]
        wait_for(
            api_server, lambda q: q["running"] == 1 and q["waiting"] == 2, "two queued requests"
        )
        with pytest.raises(openai.RateLimitError) as caught:  # 1 running + 2 waiting is the bound
            client.chat.completions.create(**body(4))
        assert caught.value.response.json()["error"]["code"] == "queue_full"
        assert all(not f.done() for f in queued)
        running.disconnect()
        answers = [f.result(timeout=60) for f in queued]  # they run once the stream is gone
    assert all(len(a.choices[0].message.content) > 0 for a in answers)
    after = api_server.wait_idle()
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["completed"] == before["completed"] + 2
    assert after["rejected"] == before["rejected"] + 1


def test_a_client_that_hangs_up_while_waiting_or_running_is_dropped(api_server):
    api_server.wait_idle()
    before = api_server.health()["queue"]
    running = LongStream(api_server)
    waiting = raw_request(api_server, body(4))
    wait_for(api_server, lambda q: q["waiting"] == 1, "the raw request to queue")
    waiting.close()
    wait_for(
        api_server,
        lambda q: q["waiting"] == 0 and q["running"] == 1,
        "the hung-up request to leave the queue",
    )
    running.disconnect()
    api_server.wait_idle()
    # a non-streaming generation is cancelled too when its client hangs up
    generating = raw_request(api_server, body(LONG))
    wait_for(api_server, lambda q: q["running"] == 1, "the non-streaming request to start")
    time.sleep(0.5)  # well into its LONG tokens
    generating.close()
    after = api_server.wait_idle()
    assert after["cancelled"] == before["cancelled"] + 2
    assert after["completed"] == before["completed"]  # neither long answer ran to its end


def test_load_50_requests_from_8_clients_all_answered_or_429_and_memory_returns(api_server):
    client = openai.OpenAI(
        base_url=f"{api_server.url}/v1", api_key=API_KEY, max_retries=0, timeout=120
    )
    heavy = dict(
        video="big.mp4", extra_body={"num_frames": 64}
    )  # 64 decoded 320x240 frames a request

    def one(i: int) -> str:
        try:
            if i % 2:
                reply = client.chat.completions.create(
                    **body(8, video=heavy["video"]), extra_body=heavy["extra_body"]
                )
                return "ok" if reply.choices[0].message.content else "empty"
            chunks = list(
                client.chat.completions.create(
                    **body(8, True, heavy["video"]), extra_body=heavy["extra_body"]
                )
            )
            return (
                "ok" if any(c.choices and c.choices[0].delta.content for c in chunks) else "empty"
            )
        except openai.RateLimitError:
            time.sleep(
                0.5
            )  # a polite client backs off, so the load keeps the queue busy, not just full
            return "429"

    with ThreadPoolExecutor(8) as pool:  # warm-up, the same way: allocator pools reach their size
        assert "ok" in list(pool.map(one, range(16), timeout=600))
    idle = idle_rss(api_server)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(50), timeout=600))
    queue = api_server.wait_idle()
    after = idle_rss(api_server)
    counts = {k: outcomes.count(k) for k in set(outcomes)}
    print(
        f"load: {counts}, idle RSS {idle / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB after,"
        f" queue {queue}"
    )
    assert len(outcomes) == 50 and set(outcomes) <= {"ok", "429"}, counts
    assert counts.get("ok", 0) >= 3  # the first requests of the burst always find room
    assert after <= idle + max(64 << 20, idle // 10), (idle, after)


def idle_rss(server, samples: int = 5) -> int:
    """The server's resident memory while idle (the median of a few readings)."""
    server.wait_idle()
    readings = []
    for _ in range(samples):
        readings.append(server.rss())
        time.sleep(0.1)
    return sorted(readings)[samples // 2]


def test_health_is_cheap_while_the_model_is_busy(api_server):
    """The event loop stays free during generation: /health and /v1/models answer meanwhile."""
    api_server.wait_idle()
    running = LongStream(api_server)
    try:
        assert api_server.health()["queue"]["running"] == 1
        models = httpx.get(f"{api_server.url}/v1/models", headers=HEADERS, timeout=10)
        assert models.status_code == 200
    finally:
        running.disconnect()
    api_server.wait_idle()

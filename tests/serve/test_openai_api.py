"""The official `openai` client against a live `longva serve` on loopback (tiny model, CPU)."""

import base64
import json

import httpx
import openai
import pytest
from serve_helpers import API_KEY, CLIP_FRAMES, MODEL_NAME

GEN = 12  # answer tokens: the model never stops by itself, so every answer has exactly this many


@pytest.fixture(scope="module")
def client(api_server):
    return openai.OpenAI(
        base_url=f"{api_server.url}/v1", api_key=API_KEY, max_retries=0, timeout=120
    )


def video_message(url: str, question: str = "What happens in the video?") -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": {"url": url}},
                {"type": "text", "text": question},
            ],
        }
    ]


def data_url(path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def ask(client, messages, **kwargs):
    return client.chat.completions.create(
        model=MODEL_NAME, messages=messages, **{"max_tokens": GEN, **kwargs}
    )


def test_models_lists_the_served_model_with_its_budget(client, pipe):
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL_NAME]
    info = models[0].model_extra["longva"]
    assert info["tokens_per_frame"] == pipe.model.tokens_per_frame
    assert info["max_frames"] == 64 and info["default_frames"] == 4
    assert client.models.retrieve(MODEL_NAME).id == MODEL_NAME


def test_video_question_gives_the_answer_of_the_local_pipeline(client, pipe, media):
    reply = ask(client, video_message("clip.mp4"), extra_body={"num_frames": 6})
    local = pipe.chat(
        "What happens in the video?", video=media / "clip.mp4", num_frames=6, max_new_tokens=GEN
    )
    choice = reply.choices[0]
    assert choice.message.content == local.answer and choice.message.role == "assistant"
    assert choice.finish_reason == "length" == local.finish_reason
    assert reply.model == MODEL_NAME and reply.id.startswith("chatcmpl-")
    assert reply.usage.prompt_tokens == local.prompt_tokens and reply.usage.completion_tokens == GEN
    cost = reply.model_extra["longva"]
    assert (
        cost["frames_used"] == [local.frames_used] and cost["visual_tokens"] == local.visual_tokens
    )
    assert {"decode", "encode", "prefill", "generate"} <= set(cost["timings"])


def test_default_frames_and_fps_sampling(client, pipe, media):
    default = ask(client, video_message("clip.mp4"))
    assert default.model_extra["longva"]["frames_used"] == [[0, 3, 7, 11]]  # --frames 4, uniform
    by_fps = ask(client, video_message("clip.mp4"), extra_body={"fps": 2})  # a 4 fps clip
    assert by_fps.model_extra["longva"]["frames_used"] == [list(range(0, CLIP_FRAMES, 2))]


def test_streaming_gives_the_same_answer_piece_by_piece(client):
    plain = ask(client, video_message("clip.mp4"))
    stream = ask(
        client, video_message("clip.mp4"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 1 and "".join(pieces) == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == GEN
    assert len({c.id for c in chunks}) == 1


def test_data_urls_and_file_urls_give_the_same_answer_as_a_path(client, media):
    by_path = ask(client, video_message("clip.mp4")).choices[0].message.content
    by_data = (
        ask(client, video_message(data_url(media / "clip.mp4", "video/mp4")))
        .choices[0]
        .message.content
    )
    by_file = ask(client, video_message((media / "clip.mp4").as_uri())).choices[0].message.content
    assert by_path == by_data == by_file


def test_images_as_data_urls_and_paths(client, pipe, media):
    def image_message(url):
        return [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": "What colour?"},
                ],
            }
        ]

    local = pipe.chat("What colour?", images=[media / "red.png"], max_new_tokens=GEN)
    for url in ("red.png", data_url(media / "red.png", "image/png")):
        reply = ask(client, image_message(url))
        assert reply.choices[0].message.content == local.answer
        assert reply.model_extra["longva"]["visual_tokens"] == local.visual_tokens


def test_stop_strings_cut_the_answer_streaming_and_not(client):
    full = ask(client, video_message("clip.mp4")).choices[0].message.content
    stop = full[4:7]  # a string the greedy answer is known to contain
    cut = full[: full.find(stop)]
    reply = ask(client, video_message("clip.mp4"), stop=[stop, "never-said"])
    assert reply.choices[0].message.content == cut and reply.choices[0].finish_reason == "stop"
    chunks = list(ask(client, video_message("clip.mp4"), stop=stop, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == cut and chunks[-1].choices[0].finish_reason == "stop"


def test_multi_turn_messages_match_a_local_follow_up(client, pipe, media):
    first = pipe.chat("What happens?", video=media / "clip.mp4", num_frames=4, max_new_tokens=GEN)
    second = pipe.chat("And then?", history=first.history, max_new_tokens=GEN)
    messages = video_message("clip.mp4", "What happens?") + [
        {"role": "assistant", "content": first.answer},
        {"role": "user", "content": "And then?"},
    ]
    reply = ask(client, messages)
    assert reply.choices[0].message.content == second.answer
    assert reply.usage.prompt_tokens == second.prompt_tokens


def test_system_message_and_sampling_with_a_seed(client):
    messages = [{"role": "system", "content": "Answer briefly."}] + video_message("clip.mp4")
    a = ask(client, messages, temperature=0.9, top_p=0.8, seed=3).choices[0].message.content
    b = ask(client, messages, temperature=0.9, top_p=0.8, seed=3).choices[0].message.content
    greedy = ask(client, messages).choices[0].message.content
    assert a == b and a != greedy


# ---- errors ------------------------------------------------------------------------------------


def error_of(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    assert "\n" not in body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "url", ["SECRET", "../{outside_name}/secret.mp4", "file://SECRET", "link.mp4"]
)
def test_paths_outside_the_allowed_root_are_refused_with_403(client, media, outside, url):
    link = media / "link.mp4"
    if not link.exists():
        link.symlink_to(outside / "secret.mp4")  # inside by name, outside once resolved
    url = url.replace("SECRET", str(outside / "secret.mp4")).replace(
        "{outside_name}", f"../{outside.name}"
    )
    with pytest.raises(openai.PermissionDeniedError) as caught:
        ask(client, video_message(url))
    error = error_of(caught.value)
    assert error["code"] == "path_not_allowed" and "outside the allowed root" in error["message"]
    assert error["param"] == "messages[0].content[0].video_url.url"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("missing.mp4", "does not exist"),
        ("https://example.com/v.mp4", "not fetched"),
        ("ftp://example.com/v.mp4", "not fetched"),
        ("data:video/mp4;base64,@@@", "not valid base64"),
        ("data:text/plain;base64,aGVsbG8=", "image/* or video/*"),
        ("corrupt.mp4", "corrupt.mp4"),
    ],
)
def test_bad_media_is_a_400_naming_the_input(client, url, expected):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, video_message(url))
    assert expected in error_of(caught.value)["message"]


def test_oversized_request_is_413(client, api_server):
    payload = "data:video/mp4;base64," + "A" * (1 << 20)  # the server takes 1 MiB bodies
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client, video_message(payload))
    assert caught.value.status_code == 413 and error_of(caught.value)["code"] == "request_too_large"
    # chunked upload without Content-Length: cut off as it grows past the cap
    body = json.dumps({"model": MODEL_NAME, "messages": video_message(payload)}).encode()
    reply = httpx.post(
        f"{api_server.url}/v1/chat/completions",
        content=iter([body[:4096], body[4096:]]),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "request_too_large"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=video_message("clip.mp4"), max_tokens=2
        )
    assert error_of(caught.value)["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_other_endpoints_are_404_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model=MODEL_NAME, prompt="Hi", max_tokens=2)
    assert error_of(caught.value)["code"] == "unknown_url"


def test_wrong_or_missing_api_key_is_401(api_server):
    bad = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(
            model=MODEL_NAME, messages=video_message("clip.mp4"), max_tokens=2
        )
    assert error_of(caught.value)["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.get(f"{api_server.url}/v1/models").status_code == 401


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(max_tokens=20001), "cap of 20000"),
        (dict(extra_body={"num_frames": 65}), "cap of 64"),
        (dict(extra_body={"fps": 100}), None),  # fine: clamped to the clip's 4 fps, 12 frames
        (dict(n=2), "n=2"),
        (dict(temperature=-1), "temperature"),
        (dict(stop=["a", "b", "c", "d", "e"]), "at most 4"),
    ],
)
def test_request_options_out_of_range_are_400(client, kwargs, expected):
    if expected is None:
        assert ask(client, video_message("clip.mp4"), **kwargs).choices[0].message.content
        return
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, video_message("clip.mp4"), **kwargs)
    assert expected in error_of(caught.value)["message"]


@pytest.mark.parametrize(
    "messages, expected",
    [
        ([{"role": "assistant", "content": "Hi"}], "last message must come from the user"),
        ([{"role": "user", "content": "<image> what?"}], "reserved <image> token"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "video_url", "video_url": {"url": "clip.mp4"}}],
                }
            ],
            "no text",
        ),
        (
            [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "b"},
                {"role": "user", "content": "c"},
            ],
            "system messages first",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "red.png"}}] * 9
                    + [{"type": "text", "text": "?"}],
                }
            ],
            "cap of 8",
        ),
    ],
)
def test_malformed_conversations_are_400(client, messages, expected):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, messages)
    assert expected in error_of(caught.value)["message"]


def test_invalid_json_and_fields_are_400_in_openai_shape(api_server):
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    url = f"{api_server.url}/v1/chat/completions"
    for body in (
        b"{not json",
        json.dumps({"model": MODEL_NAME}).encode(),
        json.dumps({"model": MODEL_NAME, "messages": [{"role": "tool", "content": "x"}]}).encode(),
    ):
        reply = httpx.post(url, content=body, headers=headers)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["type"] == "invalid_request_error"


def test_the_page_is_served_by_the_same_process(api_server):
    page = httpx.get(f"{api_server.url}/", follow_redirects=True)
    assert page.status_code == 200 and "<html" in page.text.lower()
    # with --api-key the page asks for it: its config is not given out before the login
    assert httpx.get(f"{api_server.url}/config").status_code == 401
    login = httpx.post(f"{api_server.url}/login", data={"username": "me", "password": API_KEY})
    assert login.status_code == 200, login.text
    assert httpx.get(f"{api_server.url}/config", cookies=login.cookies).status_code == 200
    assert (
        httpx.post(
            f"{api_server.url}/login", data={"username": "me", "password": "nope"}
        ).status_code
        == 400
    )

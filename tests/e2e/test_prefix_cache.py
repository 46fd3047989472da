"""Prefix caching as a client sees it: a second request sharing a long prefix reports
usage.prompt_tokens_details.cached_tokens and gives the output it gives with the cache off."""
import httpx2 as httpx

from conftest import metric

PREFIX = " ".join(f"Rule {i}: answer briefly and politely." for i in range(60))


def ask(client, question, **kw):
    return client.completions.create(model="", prompt=PREFIX + "\nQ: " + question + "\nA:",
                                     max_tokens=12, temperature=0.7, seed=5, **kw)


def test_shared_prefix_is_reported_and_changes_nothing(server, start_server):
    client = server.client()
    prompt_tokens = httpx.post(server.url + "/tokenize", json={"prompt": PREFIX}).json()["count"]
    assert prompt_tokens > 400
    hits_before = metric(server, "prefix_cache_hits_total")
    first = ask(client, "What is the sea?")
    second = ask(client, "What is the sky?")
    # The second request reuses every full 16-token block of the shared prefix.
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= (prompt_tokens // 16 - 1) * 16, (cached, prompt_tokens)
    assert cached < second.usage.prompt_tokens
    assert metric(server, "prefix_cache_hits_total") - hits_before >= cached
    assert metric(server, "prefix_cache_queries_total") > 0
    again = ask(client, "What is the sea?")
    # The same prompt again: every full block but the one holding the last token.
    assert again.usage.prompt_tokens_details.cached_tokens == \
        (again.usage.prompt_tokens - 1) // 16 * 16

    cold = start_server("--no-prefix-caching").client()
    for reply, question in [(first, "What is the sea?"), (second, "What is the sky?"),
                            (again, "What is the sea?")]:
        off = ask(cold, question)
        assert off.usage.prompt_tokens_details.cached_tokens == 0
        assert off.choices[0].text == reply.choices[0].text

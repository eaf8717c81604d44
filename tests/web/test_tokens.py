"""Bearer tokens: a checked token is remembered, and still refused once it has expired."""

from __future__ import annotations

import time

import pytest

from web import tokens
from web.tokens import TokenClaims, TokenCodec

SECRET = "tokens-test-" + "k" * 40


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_token_reads_as_its_member_and_version_every_time() -> None:
    codec = TokenCodec(SECRET, 3600)
    token = codec.issue("m-lan", 3)

    assert [codec.read(token), codec.read(token)] == [TokenClaims("m-lan", 3)] * 2


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    clock = Clock()
    codec = TokenCodec(SECRET, 60, clock=clock)
    token = codec.issue("m-lan", 1)
    assert codec.read(token) == TokenClaims("m-lan", 1)

    clock.now += 61

    assert codec.read(token) is None


def test_a_tampered_copy_of_a_remembered_token_is_refused() -> None:
    codec = TokenCodec(SECRET, 3600)
    token = codec.issue("m-lan", 1)
    codec.read(token)
    payload, _, signature = token.rpartition(".")
    tampered = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]

    assert codec.read(tampered) is None


def test_another_centers_token_is_refused_though_ours_is_remembered() -> None:
    ours = TokenCodec(SECRET, 3600)
    ours.read(ours.issue("admin", 1))

    assert ours.read(TokenCodec("another-" + "s" * 40, 3600).issue("admin", 1)) is None


def test_the_memory_of_tokens_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "TOKEN_CACHE_SIZE", 3)
    codec = TokenCodec(SECRET, 3600)
    for i in range(10):
        codec.read(codec.issue(f"m-{i}", 1))

    assert len(codec._checked) <= 3


class TestUnsubscribeLinks:
    def test_each_member_and_kind_has_one_link_that_reads_back(self) -> None:
        codec = tokens.UnsubscribeCodec(SECRET)
        links = {
            (member, kind): codec.issue(member, kind) for member in ("m-lan", "m-minh") for kind in ("a", "b")
        }

        assert len(set(links.values())) == 4
        for (member, kind), link in links.items():
            assert codec.issue(member, kind) == link  # signed once
            # and read by another process's codec, which never saw it issued
            assert tokens.UnsubscribeCodec(SECRET).read(link) == (member, kind)

    def test_the_memory_of_links_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(tokens, "ISSUED_CACHE_SIZE", 3)
        codec = tokens.UnsubscribeCodec(SECRET)
        first = codec.issue("m-0", "a")

        for i in range(1, 10):
            codec.issue(f"m-{i}", "a")

        assert len(codec._issued) <= 3
        assert codec.read(first) == ("m-0", "a")

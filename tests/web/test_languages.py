"""Refusals reach people in their language: the API by Accept-Language (English by default)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from web.i18n import accept_language


class TestAcceptLanguage:
    @pytest.mark.parametrize(
        ("header", "language"),
        [
            (None, "en"),
            ("", "en"),
            ("vi", "vi"),
            ("vi-VN,vi;q=0.9,en;q=0.8", "vi"),
            ("en-US,en;q=0.9,vi;q=0.8", "en"),
            ("fr-FR,vi;q=0.5", "vi"),
            ("fr", "en"),
            ("en;q=0.2,vi;q=0.7", "vi"),
            ("vi;q=0", "en"),
            ("vi;q=abc,en", "en"),
        ],
    )
    def test_picks_the_heaviest_of_our_languages(self, header: str | None, language: str) -> None:
        assert accept_language(header) == language


class TestErrorLanguage:
    def test_the_api_refuses_in_english_by_default(self, client: TestClient) -> None:
        response = client.get("/api/v1/me/quotas")
        assert response.status_code == 401
        assert response.json()["detail"].startswith("sign in first")

    def test_the_api_refuses_in_vietnamese_when_asked(self, client: TestClient) -> None:
        response = client.get("/api/v1/me/quotas", headers={"Accept-Language": "vi-VN,vi;q=0.9"})
        assert response.status_code == 401
        assert response.json() == {
            "error": "Unauthenticated",
            "detail": "Hãy đăng nhập trước: gửi 'Authorization: Bearer <token>' lấy từ /api/v1/auth/token",
        }

"""Manager and admin forms in Chromium, in Vietnamese: a refusal stands in the form, beside the field it
names, and nothing typed is lost; once corrected, the form goes on to its page with its notice."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from booking.models import Member, Resource
from tests.e2e.support import Center, shot, sign_in


def _reads_vietnamese(center: Center, email: str) -> None:
    with Session(center.engine) as session:
        member = session.exec(select(Member).where(Member.email == email)).one()
        member.language = "vi"
        session.add(member)
        session.commit()


class TestFormsKeepWhatWasTyped:
    def test_a_resource_refused_then_added(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        _reads_vietnamese(center, "admin@fablab.local")
        sign_in(page, center, "admin@fablab.local")
        page.goto(f"{center.url}/admin/resources")
        # The browser's own checks are out of the way: the server's refusal is what is tested.
        page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true)")
        page.fill("#r-id", "Laser 3")
        page.fill("#r-name", "Máy cắt laser 3")
        page.fill("#r-capacity", "0")
        page.click("form[action='/admin/resources'] button[type=submit]")
        refusal = page.locator("#r-id + .field-error")
        expect(refusal).to_contain_text("chỉ dùng chữ thường không dấu, chữ số và dấu gạch ngang")
        expect(page.locator("#r-id")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#r-capacity + .field-error")).to_contain_text("ít nhất là 1")
        # Nothing typed was lost, and the page did not change.
        expect(page.locator("#r-id")).to_have_value("Laser 3")
        expect(page.locator("#r-name")).to_have_value("Máy cắt laser 3")
        assert page.url.endswith("/admin/resources")
        shot(page, "forms-resource-refused")

        page.fill("#r-id", "laser-3")
        page.fill("#r-capacity", "1")
        page.click("form[action='/admin/resources'] button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Máy cắt laser 3")
        expect(page.locator("body")).to_contain_text("Đã thêm tài nguyên Máy cắt laser 3")
        with Session(center.engine) as session:
            assert session.get(Resource, "laser-3") is not None

    def test_a_maintenance_plan_without_an_interval(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        _reads_vietnamese(center, "manager@fablab.local")
        sign_in(page, center, "manager@fablab.local")
        page.goto(f"{center.url}/manage/maintenance")
        page.fill("#p-name", "Lau gương và thấu kính")
        page.click("form.plan-form button[type=submit]")
        refusal = page.locator("form.plan-form .error-box")
        expect(refusal).to_contain_text("kế hoạch bảo trì cần có chu kỳ")
        expect(page.locator("#p-name")).to_have_value("Lau gương và thấu kính")
        shot(page, "forms-plan-refused")
        page.fill("#p-days", "30")
        page.click("form.plan-form button[type=submit]")
        expect(page.locator("body")).to_contain_text("Lau gương và thấu kính")
        expect(page.locator("form.plan-form .error-box")).to_have_count(0)

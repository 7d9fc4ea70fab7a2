"""The ML area of the web app on the internal origin, in headless Chromium, against the
running stack and its Ray Serve: models by type with their metrics and which version is
deployed, Ray Serve's live status and latency, deploying a version with the keyboard alone
and rolling back (each confirmed, its progress shown, its result announced), and the
inference log with its filters — each page and state checked with axe-core, at desktop and
phone width.

Two tiny risk versions are trained and registered once for the module, as
tests/e2e/test_recommendation_flow.py does; the browser deploys one (a deploy takes tens of
seconds on 2 cores) and rolls back to what served before, so the stack is left serving what
it served. While the new version serves, an athlete's workout makes the recommender agent
ask it, so the inference log has a real entry of it to filter for.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import psycopg
import pyotp
import pytest
from playwright.async_api import expect
from user_accounts import Account, enrol_totp
from web_browser import PHONE, WebPage, web_page

from gateway.client import DeviceClient
from stack.settings import Settings
from storage import models_registry as registry

pytestmark = pytest.mark.e2e

DEPLOY_TIMEOUT_MS = 300_000
"""A deploy or rollback on Ray Serve on a busy 2-core node (what a person may wait too)."""


class Versions(msgspec.Struct, frozen=True, kw_only=True):
    new: str
    """Registered here; the browser deploys it."""
    before: str
    """What served before the module (rolled back to at the end)."""


@pytest.fixture(scope="module")
async def risk_versions(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Versions]:
    from models.train import artifact_sha256, train_risk
    from serve import control
    from stack.models_cli import deploy_now, restore, serve_target

    root: Path = tmp_path_factory.mktemp("web-ml")
    tag = uuid.uuid4().hex[:6]
    new, spare = f"web-{tag}-b", f"web-{tag}-a"
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        for seed, version in ((21, spare), (22, new)):
            train_risk(seed, root / version, n=2000, epochs=2)
            meta = json.loads((root / version / "meta.json").read_text())
            await registry.register(conn, type="risk", version=version, path=str(root / version),
                                    checksum=artifact_sha256(root / version), metrics=meta["metrics"],
                                    created_by=None, feature_schema=meta["feature_schema"])
        before = await registry.deployed(conn, "risk")
    if before is None:  # a fresh stack: something to roll back to
        before = await deploy_now(stack, "risk", spare)
    else:
        # Earlier tests may have cleared Ray Serve and left the registry as it was
        # (tests/e2e/test_recommendation_flow.py does): serve what the registry marks
        # deployed, as `stride stack up` does after a Ray restart.
        _, failed = await restore(stack)
        if any(f.startswith("risk ") for f in failed):  # its artifact is gone: serve the spare
            before = await deploy_now(stack, "risk", spare)
    yield Versions(new=new, before=before.version)
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        async with conn.transaction():  # a deploy the browser asked for may still be running:
            await registry.lock_type(conn, "risk")  # its transaction holds this lock until done
        now = await registry.deployed(conn, "risk")
        if now is not None and now.version == new:  # the test stopped before rolling back
            await control.rollback_with(conn, serve_target(stack), "risk")


async def sign_in_ml(stack: Settings, web: WebPage, ml: Account) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as public:
        ml.totp_secret, _ = enrol_totp(public, ml.token)
    await web.open("/app/ml/models?type=risk")
    await web.heading("Operations sign-in")
    await web.sign_in(ml.email, ml.password, pyotp.TOTP(ml.totp_secret).at(time.time() + 30))
    await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible(timeout=30_000)
    await web.heading("Models")


def status(web: WebPage, text: str | re.Pattern[str]):  # type: ignore[no-untyped-def]
    return web.page.get_by_role("status").filter(has_text=text)


async def tab_to(web: WebPage, name: str, limit: int = 400) -> None:
    """Press Tab until the focused element is the one named `name` (keyboard only)."""
    for _ in range(limit):
        await web.page.keyboard.press("Tab")
        focused = await web.page.evaluate(
            "() => { const e = document.activeElement; return e ? (e.getAttribute('aria-label')"
            " || e.textContent || '').trim() : '' }")
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def run_a_workout(stack: Settings, athlete: Account) -> uuid.UUID:
    """Two minutes of running, finished: the recommender agent then asks the risk model."""
    workout = uuid.uuid4()
    t0 = int(time.time() * 1000) - 300_000
    async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
        await device.start(workout, "run", t0)
        await device.send_samples(workout, 0, [(t0 + 1000 * i, 45.0 + 3e-5 * i, 7.0, 300.0, 150.0, 97.0)
                                               for i in range(120)])
        await device.finish(workout, t0 + 121_000)
    return workout


async def logged_by(stack: Settings, athlete: Account, version: str) -> int:
    with psycopg.connect(stack.pg_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM inference_log WHERE user_id = %s AND model_type = 'risk'"
                           " AND model_version = %s", (athlete.id, version)).fetchone()
    return 0 if row is None else int(row[0])


async def test_an_ml_engineer_deploys_with_the_keyboard_rolls_back_and_filters_the_inference_log(
        stack: Settings, account, risk_versions: Versions, eventually) -> None:  # type: ignore[no-untyped-def]
    ml: Account = account(roles=("ml_engineer",))
    athlete: Account = account(country="SI", sex="female", weight_kg=61)
    new, before = risk_versions.new, risk_versions.before
    async with web_page(stack, base_url=stack.internal_gateway_url) as web:
        page = web.page
        await sign_in_ml(stack, web, ml)

        # Ray Serve now: the risk application runs what the registry says.
        serve = page.get_by_role("region", name="Ray Serve now")
        risk_row = serve.get_by_role("row").filter(has_text="Injury risk")
        await expect(risk_row).to_contain_text("Running", timeout=30_000)
        await expect(risk_row).to_contain_text(before)
        versions = page.get_by_role("region", name="Versions: Injury risk")
        await expect(versions).to_contain_text(f"Deployed now: {before}.")
        new_row = versions.get_by_role("row").filter(has_text=new)
        await expect(new_row).to_contain_text("Registered")
        await expect(new_row).to_contain_text("auc")
        await web.axe("ml-models")
        await web.screenshot("ml-models")

        # Deploy with the keyboard alone: Tab to the version's button, Enter, Enter to confirm.
        await tab_to(web, f"Deploy Injury risk {new}…")
        await page.keyboard.press("Enter")
        confirm = page.get_by_role("button", name=f"Deploy {new}", exact=True)
        await expect(confirm).to_be_focused()
        await expect(page.get_by_role("group").filter(has_text=f"It replaces {before}.")).to_be_visible()
        await web.axe("ml-deploy-confirm")
        await page.keyboard.press("Enter")
        progress = page.get_by_role("heading", name=f"Deploying Injury risk {new}")
        await expect(progress).to_be_focused()
        await expect(page.get_by_role("progressbar")).to_be_visible()
        await expect(versions.get_by_role("button", name=re.compile("^Deploy "))).not_to_have_count(0)
        for button in await versions.get_by_role("button", name=re.compile("^(Deploy|Roll back)")).all():
            await expect(button).to_be_disabled()  # one change at a time
        await web.axe("ml-deploying")
        await web.screenshot("ml-deploying")
        await expect(status(web, re.compile(f"Injury risk {new} is deployed and answers on Ray Serve")))\
            .to_be_visible(timeout=DEPLOY_TIMEOUT_MS)
        await expect(page.get_by_role("heading", name="Versions: Injury risk")).to_be_focused()
        await expect(versions).to_contain_text(f"Deployed now: {new}.")
        await expect(risk_row).to_contain_text(new, timeout=30_000)
        await web.axe("ml-deployed")
        await web.screenshot("ml-deployed")

        # The new version answers the platform: an athlete's workout is logged as its inference.
        workout = await run_a_workout(stack, athlete)
        await eventually(lambda: logged_by(stack, athlete, new), timeout_s=120)

        # The inference log, filtered by version and athlete, then by workout.
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Inference log").click()
        await web.heading("Inference log")
        await web.axe("ml-inference")
        await page.get_by_label("Model type").select_option("risk")
        await page.get_by_label("Version").fill(new)
        await page.get_by_label("Athlete").fill(str(athlete.id))
        await page.get_by_role("button", name="Apply filters").click()
        await expect(status(web, "1 shown.")).to_be_visible()
        rows = page.get_by_role("table").get_by_role("row")
        await expect(rows.nth(1)).to_contain_text(new)
        await expect(rows.nth(1)).to_contain_text("Injury risk")
        await expect(rows.nth(1)).to_contain_text(" ms")
        await web.axe("ml-inference-filtered")
        await web.screenshot("ml-inference-filtered")
        await page.get_by_role("button", name="Clear filters").click()
        await page.get_by_label("Workout").fill(str(workout))
        await page.get_by_role("button", name="Apply filters").click()
        await expect(page.get_by_label("Workout")).to_have_value(str(workout))
        await expect(rows.filter(has_text=new)).to_have_count(1)
        await page.get_by_label("Until").fill("2000-01-01T00:00")
        await page.get_by_role("button", name="Apply filters").click()
        await expect(status(web, "No inference matches these filters.")).to_be_visible()
        await page.get_by_label("Athlete").fill("someone")
        await page.get_by_role("button", name="Apply filters").click()
        await expect(page.get_by_text("This is not an ID")).to_be_visible()
        await web.axe("ml-inference-bad-filter")

        # Roll back (confirmed): what served before serves again.
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
        await web.heading("Models")
        await page.get_by_role("button", name=f"Roll back to {before}…").click()
        asked = page.get_by_role("group").filter(has_text=f"Roll Injury risk back to version {before}?")
        await expect(asked).to_be_visible()
        await web.axe("ml-rollback-confirm")
        await page.get_by_role("button", name=f"Roll back to {before}", exact=True).click()
        rolling = page.get_by_role("heading", name=f"Rolling Injury risk back to {before}")
        await expect(rolling).to_be_focused()
        done = re.compile(f"Injury risk is rolled back: {before} answers on Ray Serve again")
        await expect(status(web, done)).to_be_visible(timeout=DEPLOY_TIMEOUT_MS)
        await expect(versions).to_contain_text(f"Deployed now: {before}.")
        async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
            deployed = await registry.deployed(conn, "risk")
        assert deployed is not None and deployed.version == before

        # The version's page: its metrics and its type's deploys and rollbacks.
        await versions.get_by_role("link", name=new, exact=True).click()
        await web.heading(f"Injury risk {new}")
        await expect(page.get_by_role("region", name="Metrics (held-out data)")
                     .get_by_role("rowheader", name="auc", exact=True)).to_have_count(1)
        history = page.get_by_role("region", name="Deploys and rollbacks: Injury risk").get_by_role("row")
        await expect(history.nth(1)).to_contain_text(re.compile(
            rf"Rollback\s*{re.escape(new)}\s*{re.escape(before)}"))
        await expect(history.nth(2)).to_contain_text(re.compile(
            rf"Deploy\s*{re.escape(before)}\s*{re.escape(new)}"))
        await web.axe("ml-model")
        await web.screenshot("ml-model")

        # Phone width, and in Russian and dark.
        await page.set_viewport_size(PHONE)
        for path, title, shot in (("/app/ml/models?type=risk", "Models", "ml-phone-models"),
                                  (f"/app/ml/inference?version={new}", "Inference log", "ml-phone-inference"),
                                  (f"/app/ml/models/risk/{new}", f"Injury risk {new}", "ml-phone-model")):
            await web.open(path)
            await web.heading(title)
            await expect(page.get_by_role("table").first).to_be_visible(timeout=30_000)
            await web.assert_fits_width()
            await web.axe(shot)
            await web.screenshot(shot)
        await page.emulate_media(color_scheme="dark")
        await page.get_by_label("Language").select_option("ru")
        await web.heading(f"Риск травмы {new}")
        await web.assert_fits_width()
        await web.axe("ml-model-ru-dark-phone")
        await web.screenshot("ml-model-ru-dark-phone")
        await web.open("/app/ml/models?type=risk")
        await web.heading("Модели")
        await expect(page.get_by_role("region", name="Ray Serve сейчас").get_by_role("row")
                     .filter(has_text="Риск травмы")).to_contain_text("Работает", timeout=30_000)
        await web.assert_fits_width()
        await web.axe("ml-models-ru-dark-phone")
        await web.screenshot("ml-models-ru-dark-phone")
        web.assert_no_errors()

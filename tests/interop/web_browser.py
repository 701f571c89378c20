"""The web interface in a real headless browser (Debian's chromium and chromium-driver,
python3-selenium), driving a real hermod over HTTPS: the admin logs in and adds an account,
that account logs in and sets a vacation reply, then mail sent to it over SMTP (smtplib)
gets the reply. Screenshots of every page at phone (390 px) and desktop (1280 px) widths go
to $WEB_SCREENSHOTS (target/web-screenshots/)."""
import base64
import os
import shutil
import smtplib
import socketserver
import sys
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from hermod_harness import Hermod, insecure

SHOTS = os.environ.get("WEB_SCREENSHOTS", "target/web-screenshots")
WIDTHS = {"phone": 390, "desktop": 1280}
# hermod looks nothing up (no server answers on this loopback port) and hands all outgoing
# mail, the vacation reply too, to the fake MTA below.
CONFIG = '\n[dns]\nnameservers = ["127.0.0.1:9"]\n[outbound]\nsmarthost = "127.0.0.1:%d"\n'


def gone(element):
    """A wait condition: `element` no longer belongs to the page. Selenium's staleness_of
    asks the element and expects StaleElementReferenceException, but Chromium, asked while
    the new page replaces the old, may answer "Node with given id does not belong to the
    document" instead: any refusal to talk about the element means it is gone."""

    def check(_driver):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True

    return check


class FakeMta(socketserver.ThreadingTCPServer):
    """Takes every message over plain SMTP and keeps it (the world outside)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.received = []
        super().__init__(("127.0.0.1", 0), FakeMtaSession)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class FakeMtaSession(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 fake.test ESMTP\r\n")
        recipients = []
        for line in self.rfile:
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 fake.test\r\n")
            elif verb == b"RCPT":
                recipients.append(line.decode().strip())
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = b""
                for data in self.rfile:
                    if data == b".\r\n":
                        break
                    body += data
                self.server.received.append((recipients, body))
                recipients = []
                self.wfile.write(b"250 kept\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--ignore-certificate-errors", "--no-first-run", "--disable-extensions",
                "--window-size=1280,900"):
        options.add_argument(arg)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    return driver


class Web:
    def __init__(self, driver, base):
        self.driver, self.base = driver, base

    def open(self, path):
        self.driver.get(self.base + path)

    def fill(self, field_id, text):
        element = self.driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(text)

    def press(self, form_action, label=None):
        """Submits the form posting to `form_action` (its button labelled `label`)."""
        forms = self.driver.find_elements(By.CSS_SELECTOR, 'form[action="%s"]' % form_action)
        for form in forms:
            button = form.find_element(By.CSS_SELECTOR, "button[type=submit]")
            if label is None or button.text == label:
                page = self.driver.find_element(By.TAG_NAME, "html")
                button.click()
                # Every form posts and loads a new page: wait until the old one is gone.
                WebDriverWait(self.driver, 20).until(gone(page))
                return
        raise AssertionError("no form for %s (%s) on %s" % (form_action, label, self.driver.current_url))

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def path(self):
        return self.driver.current_url[len(self.base):]

    def login(self, address, password):
        self.open("/login")
        self.fill("address", address)
        self.fill("password", password)
        self.press("/login")

    def logout(self):
        self.press("/logout")
        assert self.path() == "/login", self.path()

    def shoot(self, name):
        """The whole page at each width (the device metrics of a phone or a desktop)."""
        for label, width in WIDTHS.items():
            metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            metrics["height"] = max(600, min(int(height), 8000))
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
            with open(os.path.join(SHOTS, "%s-%s.png" % (name, label)), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def wait_for(check, what, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


def main():
    started = time.time()
    os.makedirs(SHOTS, exist_ok=True)
    mta = FakeMta()
    server = Hermod(extra_config=CONFIG % mta.server_address[1], web=True)
    driver = None
    try:
        server.cli("user", "admin", "alice@example.test", "on")
        web = Web(browser(), "https://127.0.0.1:%d" % server.ports["https"])
        driver = web.driver

        web.open("/login")
        web.shoot("login")
        web.login("alice@example.test", "wrong password")
        assert "Wrong email address or password" in web.text(), web.text()

        # The admin adds an account.
        web.login("alice@example.test", "s3cret")
        assert web.path() == "/admin", web.path()
        web.shoot("admin-dashboard")
        web.open("/admin/accounts")
        web.fill("address", "bob@example.test")
        web.fill("password", "bob-password")
        web.fill("quota", "100")
        web.press("/admin/accounts")
        assert "The account is added." in web.text(), web.text()
        assert "bob@example.test" in web.text()
        web.shoot("admin-accounts")
        for page in ("aliases", "queue", "lists", "spam"):
            web.open("/admin/" + page)
            web.shoot("admin-" + page)
        # The script adds a copy button beside each DNS record (the page has none without it).
        web.open("/admin/domains")
        web.driver.find_element(By.CSS_SELECTOR, "details summary").click()
        copies = web.driver.find_elements(By.CSS_SELECTOR, "button.copy")
        assert len(copies) > 5, "copy buttons: %d" % len(copies)
        web.shoot("admin-domains")
        web.open("/account")
        web.shoot("account")
        web.logout()

        # The new account logs in and sets a vacation reply.
        web.login("bob@example.test", "bob-password")
        assert web.path() == "/account", web.path()
        web.open("/admin")
        assert "This page is for administrators." in web.text()
        web.open("/account/security")
        web.fill("app-name", "phone")
        web.press("/account/app-passwords")
        assert "shown only this once" in web.text()
        web.shoot("account-security")
        web.open("/account/vacation")
        web.driver.find_element(By.ID, "enabled").click()
        web.fill("subject", "Away this week")
        web.fill("text", "I am on holiday and read mail next week.")
        web.press("/account/vacation")
        assert "Your vacation reply is saved." in web.text(), web.text()
        web.fill("value", "[news]")
        web.fill("folder", "News")
        web.press("/account/rules")
        assert "The rule is added." in web.text(), web.text()
        web.shoot("account-vacation")
        web.open("/account/spam")
        web.fill("junk-threshold", "3.5")
        web.press("/account/spam/threshold")
        assert "Your spam setting is saved" in web.text(), web.text()
        assert "Your threshold: 3.5" in web.text(), web.text()
        web.shoot("account-spam")
        web.logout()

        # Mail to bob over SMTP (submission, as alice) gets the vacation reply, filed in
        # alice's INBOX (a local sender: never through the relay).
        message = ("From: alice@example.test\r\nTo: bob@example.test\r\n"
                   "Subject: lunch?\r\nMessage-ID: <lunch@example.test>\r\n\r\nTomorrow?\r\n")
        with smtplib.SMTP_SSL("127.0.0.1", server.ports["submissions"], context=insecure(), timeout=20) as s:
            s.login("alice@example.test", "s3cret")
            s.sendmail("alice@example.test", ["bob@example.test"], message)

        def reply():
            for body in server.inbox("alice@example.test"):
                if b"I am on holiday" in body:
                    return body
            return None

        answer = wait_for(reply, "the vacation reply in alice's INBOX")
        assert not mta.received, "nothing relayed"
        assert b"Subject: Away this week" in answer, answer[:400]
        assert b"In-Reply-To: <lunch@example.test>" in answer, answer[:600]
        assert any(b"Tomorrow?" in m for m in server.inbox("bob@example.test"))
    finally:
        mta.shutdown()
        if driver is not None:
            driver.quit()
        server.stop()
    print("web_browser: ok in %.1f s; screenshots in %s" % (time.time() - started, SHOTS))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()

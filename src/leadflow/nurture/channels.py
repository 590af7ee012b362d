"""Sending: email through Django's email backends (one connection per batch) and SMS through a provider.

SMS providers: "file" (development: one JSON line per message in LEADFLOW_SMS_FILE) and "twilio" (any
Twilio-compatible HTTP API at LEADFLOW_SMS_BASE_URL). Each send carries an idempotency key so a retried
step is recognised by the provider.
"""

import base64
import contextlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend


class SendError(Exception):
    """A send that failed; permanent=True when retrying cannot help (the address is refused)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    unsubscribe_url: str


class EmailSender:
    """Sends a batch of emails over one reused backend connection (SMTP in production)."""

    def __init__(self) -> None:
        self.connection: BaseEmailBackend | None = None

    def send(self, email: Email) -> None:
        import smtplib

        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.text,
            to=[email.to],
            connection=self.connection,
            headers={
                "Message-ID": email.message_id,
                "List-Unsubscribe": f"<{email.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        if email.html:
            message.attach_alternative(email.html, "text/html")
        try:
            if self.connection is None:
                self.connection = get_connection(fail_silently=False)
                self.connection.open()
            message.connection = self.connection
            message.send()
        except smtplib.SMTPRecipientsRefused as err:
            raise SendError(f"Refused: {err.recipients}", permanent=True) from err
        except (smtplib.SMTPException, OSError) as err:
            self.close()
            raise SendError(f"{type(err).__name__}: {err}") from err

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped either way
                self.connection.close()
            self.connection = None


class EmailPool:
    """Sends on several SMTP connections at once (one EmailSender per thread), so the server's round
    trips overlap; results come back in completion order."""

    def __init__(self, connections: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.local = threading.local()
        self.senders: list[EmailSender] = []
        self.executor = ThreadPoolExecutor(max_workers=max(connections, 1), thread_name_prefix="smtp")

    def _send(self, email: Email) -> None:
        sender = getattr(self.local, "sender", None)
        if sender is None:
            sender = self.local.sender = EmailSender()
            self.senders.append(sender)
        sender.send(email)

    def submit(self, email: Email) -> "Future[None]":
        return self.executor.submit(self._send, email)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        for sender in self.senders:
            sender.close()


class SmsProvider(Protocol):
    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        """Sends one SMS; returns the provider's message id or raises SendError."""


class FileSmsProvider:
    """Development provider: appends each message as a JSON line to a file (or prints it)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"to": to, "body": body, "key": idempotency_key}) + "\n")
        return f"file-{idempotency_key}"


class TwilioSmsProvider:
    """Twilio's Messages API, or anything speaking it: POST {base}/2010-04-01/Accounts/{sid}/Messages.json"""

    def __init__(self, *, base_url: str, account_sid: str, auth_token: str, sender: str) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.sender = sender

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        data = urllib.parse.urlencode({"To": to, "From": self.sender, "Body": body}).encode()
        request = urllib.request.Request(
            self.url,
            data=data,
            method="POST",
            headers={
                "Authorization": f"Basic {self.auth}",
                "Content-Type": "application/x-www-form-urlencoded",
                "I-Twilio-Idempotency-Token": idempotency_key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = err.read()[:300].decode(errors="replace")
            raise SendError(
                f"SMS provider answered {err.code}: {detail}",
                permanent=400 <= err.code < 500 and err.code != 429,
            ) from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise SendError(f"SMS provider unreachable: {err}") from err
        return str(answer.get("sid", ""))


def sms_provider() -> SmsProvider:
    if settings.LEADFLOW_SMS_PROVIDER == "twilio":
        return TwilioSmsProvider(
            base_url=settings.LEADFLOW_SMS_BASE_URL,
            account_sid=settings.LEADFLOW_SMS_ACCOUNT_SID,
            auth_token=settings.LEADFLOW_SMS_AUTH_TOKEN,
            sender=settings.LEADFLOW_SMS_FROM,
        )
    return FileSmsProvider(settings.LEADFLOW_SMS_FILE)

"""Sending the mail outbox through a Mailer, with retries."""

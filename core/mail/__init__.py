"""Outbound mail: the Mailer seam, its SMTP and file-drop backends, and the templates."""

"""Intake by e-mail: messages/s through the SMTP listener, DATA end → lead.ingested."""

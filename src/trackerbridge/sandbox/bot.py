"""The integration user the sandbox's credentials act as, in both emulated systems."""

BOT_EMAIL = "trackerbridge-bot@example.com"
BOT_NAME = "trackerbridge bot"

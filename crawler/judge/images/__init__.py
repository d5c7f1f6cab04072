"""Image checks: decoding a format's header and size, and bounded pixel inspection."""

"""Configuration: TOML to flat keys, macros, expression settings."""

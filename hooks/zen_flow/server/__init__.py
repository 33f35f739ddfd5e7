"""The hook server: Flask app, settings, gunicorn configuration, metrics and logs."""

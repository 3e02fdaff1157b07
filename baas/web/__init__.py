"""The web console: server-rendered Jinja2 pages; actions and live parts call the REST API with
the session cookie and the CSRF header (static/console.js). No build step."""

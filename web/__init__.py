"""The web app's static files (HTML, ES modules, CSS, the socket.io-client bundle): data only,
served by `api.web`."""

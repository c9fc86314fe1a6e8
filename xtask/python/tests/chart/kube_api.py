"""A minimal Kubernetes API server on loopback that answers what Helm's `lookup` asks for a Secret:
discovery of `v1` and GETs of Secrets in one namespace. Enough to render the chart cluster-aware
(as `helm upgrade` does) without a cluster."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DISCOVERY_V1 = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret", "verbs": ["get"]}
    ],
}
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}


class KubeApi:
    """Serves `secrets` (name → data, base64 values) in `namespace`; records the paths asked for."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.secrets: dict[str, dict[str, str]] = {}
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                api.requests.append(path)
                status, body = api.answer(path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[int, dict]:
        if path == "/api/v1":
            return 200, DISCOVERY_V1
        prefix = f"/api/v1/namespaces/{self.namespace}/secrets/"
        name = path.removeprefix(prefix)
        if path.startswith(prefix) and name in self.secrets:
            metadata = {"name": name, "namespace": self.namespace}
            return 200, {
                "kind": "Secret",
                "apiVersion": "v1",
                "metadata": metadata,
                "data": self.secrets[name],
            }
        return 404, NOT_FOUND

    @property
    def kubeconfig(self) -> str:
        host, port = self._server.server_address[:2]
        context = f"{{cluster: test, user: test, namespace: {self.namespace}}}"
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: test, cluster: {{server: 'http://{host!s}:{port}'}}}}]\n"
            "users: [{name: test, user: {token: test}}]\n"
            f"contexts: [{{name: test, context: {context}}}]\n"
            "current-context: test\n"
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

"""A small client of the Airflow 3 REST API (v2): token login, connections, variables, health."""
from __future__ import annotations

import requests

from labkit.errors import LabError


class AirflowAPI:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._session = requests.Session()
        self._token: str | None = None

    def health(self) -> dict:
        """`/api/v2/monitor/health` (no login needed): status of metadatabase, scheduler, dag_processor, triggerer."""
        resp = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def login(self) -> str:
        resp = self._session.post(f"{self.base_url}/auth/token", timeout=self.timeout,
                                  json={"username": self.username, "password": self.password})
        if resp.status_code in (401, 403):
            raise LabError(f"Airflow at {self.base_url} rejected the password of user {self.username!r}; "
                           "the generated one is in the lab's secrets folder (labkit status shows where)")
        resp.raise_for_status()
        self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        if self._token is None:
            self.login()
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"
        resp = self._session.request(method, url, timeout=self.timeout,
                                     headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        if resp.status_code == 401:  # token expired: log in again once
            self.login()
            resp = self._session.request(method, url, timeout=self.timeout,
                                         headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        if resp.status_code >= 400:
            raise LabError(f"Airflow API {method} {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params=params).json()

    def upsert(self, collection: str, entities: list[dict]) -> dict:
        """Create or overwrite connections/variables in one bulk call (idempotent)."""
        body = {"actions": [{"action": "create", "entities": entities, "action_on_existence": "overwrite"}]}
        result = self.request("PATCH", collection, json=body).json()
        errors = result.get("create", {}).get("errors") or []
        if errors:
            raise LabError(f"Airflow refused some {collection}: {errors}")
        return result

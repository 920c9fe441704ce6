"""The mixed load of bench/pages.py: locust users across the roles against gunicorn.

Not a benchmark of its own (bench/pages.py starts it): the plan it reads
(``KJFLOW_BENCH_PLAN``, JSON) names the users to log in as and what they may touch:
researchers with applications, experts with accepted reviews, the due tranches finance
may prepare (each once), a sample of application ids.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, ClassVar

from locust import HttpUser, between, task

PLAN: dict[str, Any] = json.loads(Path(os.environ["KJFLOW_BENCH_PLAN"]).read_text("utf-8"))
PASSWORD = PLAN["password"]
DUE = list(PLAN["due_tranches"])  # each prepared once, by whichever finance user takes it
# Seconds between a user's two requests (bench/pages.py --think): a person reads the page.
THINK = [float(x) for x in os.environ.get("KJFLOW_BENCH_THINK", "5,15").split(",")]
SCORES = {"innovation": 82, "feasibility": 78, "team": 85, "benefit": 80}


class Role(HttpUser):
    abstract = True
    wait_time = between(THINK[0], THINK[1])
    pool: ClassVar[list[str]] = []
    counter = 0

    def on_start(self) -> None:
        cls = type(self)
        self.username = cls.pool[cls.counter % len(cls.pool)]
        cls.counter += 1
        page = self.client.get("/login", name="/login").text
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        with self.client.post("/login", data={"username": self.username, "password": PASSWORD,
                                              "csrf_token": token},
                              allow_redirects=False, name="/login [POST]",
                              catch_response=True) as resp:
            if resp.status_code != 302:
                resp.failure(f"login {self.username}: {resp.status_code}")
        resp = self.client.post("/api/v1/auth/token", json={"username": self.username,
                                                           "password": PASSWORD},
                                name="/api/v1/auth/token")
        self.api = {"Authorization": "Bearer " + resp.json()["token"]}

    def open_application(self) -> None:
        app_id = random.choice(PLAN["applications"])
        self.client.get(f"/applications/{app_id}", name="/applications/<id>")


class Researcher(Role):
    weight = 4
    pool = PLAN["researchers"]

    @task(3)
    def my_applications(self) -> None:
        self.client.get("/applications", name="/applications")

    @task(2)
    def open_own(self) -> None:
        items = self.client.get("/api/v1/applications", headers=self.api,
                                name="/api/v1/applications").json()["items"]
        if items:
            self.client.get(f"/applications/{random.choice(items)['id']}",
                            name="/applications/<id>")

    @task(1)
    def home(self) -> None:
        self.client.get("/", name="/")


class Officer(Role):
    weight = 2
    pool = PLAN["officers"]

    @task(3)
    def browse(self) -> None:
        query = random.choice(["", "?q=稀土", "?state=formal_review", "?sort=title",
                               f"?page={random.randint(2, 200)}"])
        self.client.get("/applications" + query, name="/applications?…")

    @task(3)
    def open_one(self) -> None:
        self.open_application()

    @task(1)
    def home(self) -> None:
        self.client.get("/", name="/")


class Expert(Role):
    weight = 3
    pool = PLAN["experts"]

    @task(2)
    def queue(self) -> None:
        self.client.get("/reviews", name="/reviews")

    @task(2)
    def score(self) -> None:
        items = self.client.get("/api/v1/reviews", headers=self.api,
                                name="/api/v1/reviews").json()["items"]
        accepted = [r for r in items if r.get("state") == "accepted"]
        if accepted:
            review = random.choice(accepted)
            self.client.put(f"/api/v1/reviews/{review['id']}/scores", headers=self.api,
                            json={"scores": SCORES, "comment": "技术路线清晰，建议补充产业化计划。",
                                  "submit": False}, name="/api/v1/reviews/<id>/scores")


class Finance(Role):
    weight = 1
    pool = PLAN["finance"]

    @task(2)
    def payments(self) -> None:
        self.client.get("/finance", name="/finance")

    @task(1)
    def prepare(self) -> None:
        if DUE:
            tranche = DUE.pop()
            self.client.post(f"/api/v1/tranches/{tranche}/transitions", headers=self.api,
                             json={"trigger": "prepare"}, name="/api/v1/tranches/<id>/transitions")

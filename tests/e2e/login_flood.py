"""A flood of logins from another process (so the test's own event loop stays free to time
a device's acks): `python login_flood.py BASE_URL COUNT AT_ONCE` prints the answers' codes
as JSON. Each login claims an address of its own (X-Forwarded-For, believed from a trusted
proxy) and an unknown e-mail, so no throttle stops it before the password hash."""

import asyncio
import collections
import json
import random
import sys

import httpx


async def main(base_url: str, count: int, at_once: int) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(http: httpx.AsyncClient, i: int) -> str:
        address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
        async with gate:
            answer = await http.post("/v1/auth/login", headers={"X-Forwarded-For": address},
                                     json={"email": f"nobody{i}@example.org", "password": "twelve chars!"})
        retry = answer.headers.get("Retry-After", "")
        return f"{answer.status_code} {answer.json().get('code')} {retry}".strip()

    async with httpx.AsyncClient(base_url=base_url, timeout=120,
                                 limits=httpx.Limits(max_connections=at_once)) as http:
        answers = await asyncio.gather(*(one(http, i) for i in range(count)))
    print(json.dumps(collections.Counter(answers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))

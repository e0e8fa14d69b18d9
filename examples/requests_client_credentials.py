"""Call an API with an OAuth 2 client-credentials token, with requests and tokenclock: the
token is fetched once, refreshed before it expires on the API's own clock, and a 401 is
retried once.

    python examples/requests_client_credentials.py TOKEN_URL API_URL
    (or TOKEN_URL / API_URL in the environment; CLIENT_ID, CLIENT_SECRET likewise)
"""
import os
import sys

import requests

from tokenclock.requests import OAuth2Auth

token_url, api_url = sys.argv[1:3] if len(sys.argv) >= 3 else (os.environ["TOKEN_URL"], os.environ["API_URL"])
auth = OAuth2Auth(
    token_url,
    os.environ.get("CLIENT_ID", "demo-client"),
    os.environ.get("CLIENT_SECRET", "demo-secret"),
    scope="read",
)
with requests.Session() as session:
    session.auth = auth
    for _ in range(3):
        response = session.get(api_url, timeout=10)
        response.raise_for_status()
        print(response.json())
print(f"{auth.stats()['token_requests']} token request(s)")

"""A FastAPI resource server: bearer tokens verified with the issuer's published keys.

    ISSUER=https://issuer.example uvicorn fastapi_resource_server:app
"""

import os

from fastapi import Depends, FastAPI

from tokenclock import Verifier
from tokenclock.middleware import bearer_dependency

verifier = Verifier.from_issuer(os.environ["ISSUER"], algorithms=["RS256"], audience="api://orders")
app = FastAPI()


@app.get("/orders")
async def orders(token: dict = Depends(bearer_dependency(verifier))) -> dict:
    return {"sub": token["claims"]["sub"], "orders": []}

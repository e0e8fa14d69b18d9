// A resource server (Node): bearer tokens verified with the issuer's keys, discovered and cached.
// Run: ISSUER=https://login.example.com node resource_server.mjs   (PORT, AUDIENCE optional)
import { createServer } from "node:http";
import { Verifier, bearerAuth } from "tokenclock/full";

const verifier = Verifier.fromIssuer(process.env.ISSUER, { algorithms: ["RS256", "ES256"], audience: process.env.AUDIENCE ?? "api" });
const auth = bearerAuth(verifier); // 401 + WWW-Authenticate, 503 while the keys are unavailable

const server = createServer((req, res) =>
  auth(req, res, () => res.end(JSON.stringify({ hello: req.auth.claims.sub }))),
);
server.listen(Number(process.env.PORT ?? 8080), () => console.log(`listening on ${server.address().port}`));

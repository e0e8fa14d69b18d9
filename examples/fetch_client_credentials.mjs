// Call an API with an OAuth 2 client-credentials token, with fetch and tokenclock: the token is
// fetched once, refreshed before it expires on the API's own clock, and a 401 is retried once.
//
//     node examples/fetch_client_credentials.mjs TOKEN_URL API_URL
//     (or TOKEN_URL / API_URL in the environment; CLIENT_ID, CLIENT_SECRET likewise)
import { createFetch } from "tokenclock";

const [tokenUrl, apiUrl] = process.argv.length >= 4 ? process.argv.slice(2, 4) : [process.env.TOKEN_URL, process.env.API_URL];
const fetch = createFetch({
  tokenUrl,
  clientId: process.env.CLIENT_ID ?? "demo-client",
  clientSecret: process.env.CLIENT_SECRET ?? "demo-secret",
  scope: "read",
});
for (let i = 0; i < 3; i++) {
  const response = await fetch(apiUrl);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  console.log(JSON.stringify(await response.json()));
}
console.log(`${fetch.stats().tokenRequests} token request(s)`);

// Automatic persisted queries with Apollo Client's own link, against a running
// shop: node apq.mjs http://127.0.0.1:8000 get|post <variantId>
//
// "get" sends hashed queries over GET (useGETForHashedQueries, what a CDN can
// cache), "post" over POST. Each operation runs twice; every HTTP request the
// client sends is recorded (method, whether it carried the document, its hash).
// Prints one JSON object per step on stdout and exits 0; any failure prints
// {"step":"error",...} and exits 1.
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [base, mode, variantId] = process.argv.slice(2);

const sent = [];
async function recordingFetch(url, init) {
  const target = new URL(url);
  const body = init.body ? JSON.parse(init.body) : null;
  const extensions = body
    ? body.extensions
    : JSON.parse(target.searchParams.get("extensions") ?? "null");
  sent.push({
    method: init.method ?? "GET",
    withDocument: Boolean(body ? body.query : target.searchParams.get("query")),
    hash: extensions?.persistedQuery?.sha256Hash ?? null,
  });
  return fetch(url, init);
}

const link = new PersistedQueryLink({
  sha256: (document) => createHash("sha256").update(document).digest("hex"),
  useGETForHashedQueries: mode === "get",
}).concat(new HttpLink({ uri: `${base}/graphql/`, fetch: recordingFetch }));
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const PRODUCT = gql`
  query Product($slug: String!) {
    product(slug: $slug) { name variants { sku } }
  }
`;
const CART_LINES_ADD = gql`
  mutation CartLinesAdd($lines: [CartLineInput!]!) {
    cartLinesAdd(lines: $lines) {
      cart { totalQuantity }
      errors { code }
    }
  }
`;

function step(name, fields) {
  console.log(JSON.stringify({ step: name, ...fields }));
}

async function twice(name, run) {
  for (const round of ["first", "second"]) {
    const before = sent.length;
    const result = await run();
    step(`${name}:${round}`, { data: result.data, requests: sent.slice(before) });
  }
}

try {
  await twice("query", () =>
    client.query({
      query: PRODUCT,
      variables: { slug: "kettle" },
      fetchPolicy: "network-only",
    }),
  );
  // The same document by hash, other variables.
  const before = sent.length;
  const teapot = await client.query({
    query: PRODUCT,
    variables: { slug: "teapot" },
    fetchPolicy: "network-only",
  });
  step("otherVariables", { data: teapot.data, requests: sent.slice(before) });
  await twice("mutation", () =>
    client.mutate({
      mutation: CART_LINES_ADD,
      variables: { lines: [{ variantId, quantity: 1 }] },
    }),
  );
  process.exit(0);
} catch (error) {
  step("error", { message: String(error?.stack ?? error) });
  process.exit(1);
}

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { relayStylePagination } from "@apollo/client/utilities";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";

// url: "https://shop.example.com/graphql/". getAccessToken: the current access
// token or null (may be async: refresh there when it is about to expire).
// webSocketImpl: only outside browsers, e.g. the ws package's WebSocket in Node.
export function createShopClient({ url, getAccessToken, webSocketImpl }) {
  const authorization = async () => {
    const token = await getAccessToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  };
  const http = new SetContextLink(async ({ headers }) => ({
    headers: { ...headers, ...(await authorization()) },
  })).concat(new HttpLink({ uri: url }));
  // Opened at the first subscription; connectionParams is read at every
  // (re)connect, so after a 4403 (expired token) the retry signs in afresh.
  const socket = createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl,
    connectionParams: authorization,
  });
  const link = ApolloLink.split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(socket),
    http,
  );
  const cache = new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          // One cached list per filters + ordering; fetchMore appends pages.
          products: relayStylePagination(["filters", "ordering"]),
        },
      },
    },
  });
  return { client: new ApolloClient({ link, cache }), socket };
}

// A storefront's journey through the README's Apollo Client set-up (client.mjs),
// against a running shop: node journey.mjs http://127.0.0.1:8000
//
// Prints one JSON object per step on stdout. After {"step":"subscribed",...} it
// waits for the order to be paid by someone else (tests/e2e/test_apollo.py marks
// it paid), prints {"step":"paid",...} and exits 0; any failure prints
// {"step":"error",...} and exits 1.
import { gql } from "@apollo/client";
import { filter, firstValueFrom, timeout } from "rxjs";
import WebSocket from "ws";

import { createShopClient } from "./client.mjs";

const base = process.argv[2];
const PAID_WITHIN_MS = 30_000;

// A browser keeps these in localStorage (the cart token) and in memory (the
// access token); Node has neither, so a Map stands in with the same methods.
const storage = new Map();
const localStorage = {
  getItem: (key) => storage.get(key) ?? null,
  setItem: (key, value) => storage.set(key, value),
  removeItem: (key) => storage.delete(key),
};
let accessToken = null;

const { client, socket } = createShopClient({
  url: `${base}/graphql/`,
  getAccessToken: () => accessToken,
  webSocketImpl: WebSocket,
});

const PRODUCTS = gql`
  query Products($first: Int!, $after: String, $ordering: [ProductOrder!]) {
    products(first: $first, after: $after, ordering: $ordering) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id name variants { id } } }
    }
  }
`;
const CART_FIELDS = `token totalQuantity subtotal { amount currency }`;
const CART = gql`
  query Cart($token: String) { cart(token: $token) { ${CART_FIELDS} } }
`;
const CART_LINES_ADD = gql`
  mutation CartLinesAdd($token: String, $lines: [CartLineInput!]!) {
    cartLinesAdd(token: $token, lines: $lines) {
      cart { ${CART_FIELDS} }
      errors { field code message }
    }
  }
`;
const REGISTER = gql`
  mutation Register($email: String!, $password: String!) {
    register(email: $email, password: $password) {
      user { email }
      errors { field code message }
    }
  }
`;
const TOKEN_AUTH = gql`
  mutation TokenAuth($email: String!, $password: String!) {
    tokenAuth(email: $email, password: $password) {
      token refreshToken
      errors { field code message }
    }
  }
`;
const SHIPPING = gql`
  query Shipping($country: String!) {
    shippingMethods(country: $country) { id name price { amount } }
  }
`;
const ESTIMATE = gql`
  query Estimate($country: String!, $method: ID) {
    cart {
      token
      voucherCode
      estimate(country: $country, shippingMethodId: $method) {
        subtotal { amount } discount { amount } shipping { amount } tax { amount }
        total { amount currency }
      }
    }
  }
`;
const VOUCHER = gql`
  mutation Voucher($code: String!) {
    cartVoucherApply(code: $code) {
      cart { voucherCode }
      errors { field code message }
    }
  }
`;
const ME = gql`
  query Me { me { email } }
`;
const CHECKOUT = gql`
  mutation Checkout($input: CheckoutInput!) {
    checkout(input: $input) {
      order { id number status discount { amount } voucherCode total { amount currency } }
      errors { field code message }
    }
  }
`;
const FOLLOW = gql`
  subscription Follow($id: ID!) {
    orderStatusChanged(orderId: $id, includeCurrent: true) {
      status previousStatus at order { number }
    }
  }
`;

function print(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

function expectNoErrors(payload, what) {
  if (payload.errors.length) {
    throw new Error(`${what}: ${JSON.stringify(payload.errors)}`);
  }
  return payload;
}

async function browse() {
  const variables = { first: 2, ordering: [{ name: "ASC" }] };
  const listing = client.watchQuery({ query: PRODUCTS, variables });
  const watching = listing.subscribe(() => {});
  try {
    const firstPage = await firstValueFrom(
      listing.pipe(filter((result) => result.dataState === "complete")),
    );
    const { endCursor } = firstPage.data.products.pageInfo;
    const more = await listing.fetchMore({ variables: { after: endCursor } });
    // relayStylePagination merges the second page into the first one's list:
    // the watched query (what a list component renders) grows to both pages.
    const grown = await firstValueFrom(
      listing.pipe(
        filter((result) => result.data?.products.edges.length > 2),
        timeout({ first: 5_000 }),
      ),
    );
    const shown = grown.data.products;
    const cached = client.readQuery({ query: PRODUCTS, variables }).products;
    print("products", {
      firstPage: firstPage.data.products.edges.map((edge) => edge.node.name),
      secondPage: more.data.products.edges.map((edge) => edge.node.name),
      shown: shown.edges.map((edge) => edge.node.name),
      cached: cached.edges.map((edge) => edge.node.name),
      hasNextPage: shown.pageInfo.hasNextPage,
      totalCount: shown.totalCount,
    });
    return shown.edges.map((edge) => edge.node);
  } finally {
    watching.unsubscribe();
  }
}

async function guestCart(product) {
  const { data } = await client.mutate({
    mutation: CART_LINES_ADD,
    variables: { lines: [{ variantId: product.variants[0].id, quantity: 1 }] },
  });
  const { cart } = expectNoErrors(data.cartLinesAdd, "cartLinesAdd (guest)");
  localStorage.setItem("cartToken", cart.token);
  const again = await client.query({
    query: CART,
    variables: { token: localStorage.getItem("cartToken") },
    fetchPolicy: "network-only",
  });
  print("guestCart", {
    hasToken: typeof cart.token === "string" && cart.token.length > 0,
    totalQuantity: again.data.cart.totalQuantity,
  });
}

async function signIn(email, password) {
  const registered = await client.mutate({
    mutation: REGISTER,
    variables: { email, password },
  });
  expectNoErrors(registered.data.register, "register");
  const signed = await client.mutate({
    mutation: TOKEN_AUTH,
    variables: { email, password },
  });
  accessToken = expectNoErrors(signed.data.tokenAuth, "tokenAuth").token;
  // Nothing cached for the guest may show through for the user.
  await client.clearStore();
  const { data } = await client.query({ query: ME });
  print("signedIn", { email: data.me.email });
}

async function mergeAndFill(product) {
  // Signed in, the guest token is passed once: its cart joins the user's.
  const merged = await client.query({
    query: CART,
    variables: { token: localStorage.getItem("cartToken") },
    fetchPolicy: "network-only",
  });
  localStorage.removeItem("cartToken");
  const { data } = await client.mutate({
    mutation: CART_LINES_ADD,
    variables: { lines: [{ variantId: product.variants[0].id, quantity: 2 }] },
  });
  const { cart } = expectNoErrors(data.cartLinesAdd, "cartLinesAdd (user)");
  print("cart", {
    mergedQuantity: merged.data.cart.totalQuantity,
    mergedToken: merged.data.cart.token,
    storedCartToken: localStorage.getItem("cartToken"),
    totalQuantity: cart.totalQuantity,
    subtotal: cart.subtotal.amount,
  });
}

async function applyVoucher(code) {
  // A code typed in any case; the cart keeps it, and checkout uses it.
  const { data } = await client.mutate({ mutation: VOUCHER, variables: { code } });
  const { cart } = expectNoErrors(data.cartVoucherApply, "cartVoucherApply");
  print("voucher", { voucherCode: cart.voucherCode });
}

async function chooseShipping() {
  // Signed in: the user's cart, so no cart token is needed.
  const methods = await client.query({
    query: SHIPPING,
    variables: { country: "GB" },
    fetchPolicy: "network-only",
  });
  const method = methods.data.shippingMethods[0];
  const estimate = await client.query({
    query: ESTIMATE,
    variables: { country: "GB", method: method.id },
    fetchPolicy: "network-only",
  });
  const totals = estimate.data.cart.estimate;
  print("shipping", {
    methods: methods.data.shippingMethods.map((m) => [m.name, m.price.amount]),
    methodId: method.id,
    voucherCode: estimate.data.cart.voucherCode,
    subtotal: totals.subtotal.amount,
    discount: totals.discount.amount,
    shipping: totals.shipping.amount,
    tax: totals.tax.amount,
    total: totals.total.amount,
  });
  return method.id;
}

async function checkout(email, shippingMethodId) {
  const { data } = await client.mutate({
    mutation: CHECKOUT,
    variables: {
      input: {
        email,
        shippingMethodId,
        shippingAddress: {
          name: "Ada Lovelace",
          line1: "12 St James's Square",
          city: "London",
          postalCode: "SW1Y 4JH",
          country: "GB",
        },
      },
    },
  });
  const { order } = expectNoErrors(data.checkout, "checkout");
  print("checkout", {
    orderId: order.id,
    number: order.number,
    status: order.status,
    voucherCode: order.voucherCode,
    discount: order.discount.amount,
    total: order.total.amount,
  });
  return order;
}

function followUntilPaid(order) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`no PAID event within ${PAID_WITHIN_MS} ms`));
    }, PAID_WITHIN_MS);
    const subscription = client
      .subscribe({ query: FOLLOW, variables: { id: order.id } })
      .subscribe({
        next: ({ data, error }) => {
          if (error) {
            clearTimeout(timer);
            reject(error);
            return;
          }
          const event = data.orderStatusChanged;
          const fields = {
            orderId: order.id,
            number: event.order.number,
            status: event.status,
            previousStatus: event.previousStatus,
            at: event.at,
          };
          if (event.status === "PENDING_PAYMENT") {
            print("subscribed", fields);
          } else {
            print("paid", fields);
            clearTimeout(timer);
            subscription.unsubscribe();
            resolve();
          }
        },
        error: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
  });
}

try {
  const products = await browse();
  await guestCart(products[0]);
  const email = `apollo-${Date.now()}-${process.pid}@example.com`;
  await signIn(email, "a long passphrase for apollo");
  await mergeAndFill(products[1]);
  await applyVoucher("welcome10");
  const order = await checkout(email, await chooseShipping());
  await followUntilPaid(order);
  await socket.dispose();
  client.stop();
} catch (error) {
  print("error", { message: String(error?.stack ?? error) });
  process.exit(1);
}

// paysplit's playground: GraphiQL from files paysplit serves itself (no
// outside host). What GraphiQL stores (tabs, and the Headers pane with the
// API key) goes to this tab's sessionStorage, gone when the tab closes,
// unless the user ticks "remember", which keeps it in localStorage.
"use strict";
(function () {
  const PREFIX = "paysplit:graphiql:";
  const REMEMBER = "paysplit:remember";
  const status = document.getElementById("status");
  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    status.textContent = "The playground's scripts did not load; reload the page, or query /graphql directly.";
    return;
  }
  const ours = (s) => {
    const out = [];
    for (let i = 0; i < s.length; i++) {
      const k = s.key(i);
      if (k.startsWith(PREFIX)) out.push(k);
    }
    return out;
  };
  // prefixed is a Storage over our keys in the storage that at() names.
  const prefixed = (at) => ({
    getItem: (k) => at().getItem(PREFIX + k),
    setItem: (k, v) => at().setItem(PREFIX + k, v),
    removeItem: (k) => at().removeItem(PREFIX + k),
    clear: () => ours(at()).forEach((k) => at().removeItem(k)),
    key: (i) => { const k = ours(at())[i]; return k === undefined ? null : k.slice(PREFIX.length); },
    get length() { return ours(at()).length; },
  });
  const copy = (from, to) => ours(from).forEach((k) => to.setItem(k, from.getItem(k)));

  // Earlier versions kept GraphiQL's state, the key with it, in localStorage.
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const k = localStorage.key(i);
    if (k && k.startsWith("graphiql:")) localStorage.removeItem(k);
  }
  const remember = localStorage.getItem(REMEMBER) === "1";
  if (!remember) prefixed(() => localStorage).clear();
  const box = document.getElementById("remember");
  box.checked = remember;
  box.addEventListener("change", () => {
    if (box.checked) {
      copy(sessionStorage, localStorage);
      localStorage.setItem(REMEMBER, "1");
    } else {
      copy(localStorage, sessionStorage);
      prefixed(() => localStorage).clear();
      localStorage.removeItem(REMEMBER);
    }
  });

  const url = location.origin + "/graphql";
  const subscriptionUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
  // The Headers pane's headers go with every request; a subscription sends
  // them in its connection_init payload as {headers: {...}}.
  const fetcher = (params, opts) => {
    const headers = (opts && opts.headers) || {};
    return GraphiQL.createFetcher({ url, subscriptionUrl, wsConnectionParams: { headers } })(params, opts);
  };
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultHeaders: '{\n  "Authorization": "Bearer psk_…"\n}',
      storage: prefixed(() => (box.checked ? localStorage : sessionStorage)),
      inputValueDeprecation: true,
    }),
    document.getElementById("graphiql"),
  );
})();

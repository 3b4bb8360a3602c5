#!/usr/bin/env bash
# Refetches the playground's assets from the npm registry at the versions
# gqlgen's own playground names (graph/playground_test.go checks their
# hashes against gqlgen's integrity attributes, so a gqlgen upgrade that
# moves them fails until this script is rerun with the new versions).
set -euo pipefail
cd "$(dirname "$0")"
GRAPHIQL=4.1.2 REACT=18.2.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for p in graphiql-$GRAPHIQL react-$REACT react-dom-$REACT; do
  mkdir -p "$tmp/$p" && tar xzf "$tmp/$p.tgz" -C "$tmp/$p"
done
cp "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.js" "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.css" .
cp "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.js.map" index.umd.js.map # the name graphiql.min.js points at
cp "$tmp/graphiql-$GRAPHIQL/package/LICENSE" LICENSE.graphiql
cp "$tmp/react-$REACT/package/umd/react.production.min.js" "$tmp/react-dom-$REACT/package/umd/react-dom.production.min.js" .
cp "$tmp/react-$REACT/package/LICENSE" LICENSE.react

import { defineConfig } from 'vite';

// The C++ server (`carnet serve`) serves dist/ at "/", the FHIR API at "/fhir", the identity
// API at "/auth", "/directory" and "/admin" (docs/AUTH-API.md) and the access API at "/access"
// (docs/ACCESS-API.md). In development, Vite serves the
// app and forwards those to a locally running server (or tests/e2e/mock-server.mjs).
declare const process: { env: Record<string, string | undefined> };
const api = process.env.CARNET_API ?? 'http://127.0.0.1:8080';
// The session cookie is set without a Domain, so it belongs to the dev server's origin: the
// browser sees one origin for the app and the API, as in production.
const target = { target: api, changeOrigin: true };
const proxy = {
  '^/fhir(/|$)': target,
  '^/auth(/|$)': target,
  '^/directory(/|$)': target,
  '^/admin(/|$)': target,
  '^/access(/|$)': target,
  '^/records(/|$)': target,
  '^/messages(/|$)': target,
};

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    // No inline polyfill script: the server sends a strict CSP (default-src 'self').
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    host: '127.0.0.1',
    proxy,
  },
  preview: {
    proxy,
  },
});

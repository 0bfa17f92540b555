import { defineConfig } from 'vite';

// The C++ server (`carnet serve`) serves dist/ at "/" and the FHIR API at "/fhir".
// In development, Vite serves the app and forwards /fhir to a locally running server.
declare const process: { env: Record<string, string | undefined> };
const api = process.env.CARNET_API ?? 'http://127.0.0.1:8080';

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
    proxy: {
      '/fhir': { target: api, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      '/fhir': { target: api, changeOrigin: true },
    },
  },
});

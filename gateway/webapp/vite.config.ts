// Built during `make setup` (stack/bootstrap.sh → stack/webapp.py); the gateway serves dist/.
// No inline scripts or styles come out of the build, so the strict CSP
// (gateway/security_headers.py: script-src 'self'; style-src 'self') holds.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,        // every asset a file of its own: nothing inlined as data:
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 400,
  },
});

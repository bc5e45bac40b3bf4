/**
 * Static files: the widget bundle (`/widget/`, embeddable from any site), the agent console (`/console/`, an
 * SPA with index.html fallback) and the demo host pages (`/demo/`); `/` redirects to the demo.
 */
import express, { Router, type RequestHandler } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the static folders live (the repository root by default). */
export interface StaticRoots {
  widget: string;
  console: string;
  demo: string;
}

/** The default roots, relative to this repository. */
export function defaultStaticRoots(): StaticRoots {
  const root = join(import.meta.dirname, '..', '..');
  return { widget: join(root, 'dist', 'widget'), console: join(root, 'dist', 'console'), demo: join(root, 'demo') };
}

// Pages the bridge serves itself: no framing by other sites, no inline script, talk only to this origin.
// `wasm-unsafe-eval` lets the XMTP browser SDK instantiate its WebAssembly; styles allow inline for Lit's fallback.
const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss: https:",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Security headers for the console and demo pages. */
export const pageSecurityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', PAGE_CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  next();
};

/** The static router. */
export function staticRouter(roots: StaticRoots = defaultStaticRoots()): Router {
  const router = Router();
  router.get('/', (_req, res) => res.redirect(302, '/demo/'));

  // Third-party pages load the widget cross-origin, so it is public; file names are not hashed, so cache briefly
  // and revalidate (an upgrade reaches every site within minutes).
  router.use(
    '/widget',
    (_req, res, next) => {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
      next();
    },
    express.static(roots.widget, {
      index: false,
      fallthrough: true,
      setHeaders: (res) => res.setHeader('Cache-Control', 'public, max-age=300, must-revalidate'),
    }),
  );

  router.use(
    '/console',
    pageSecurityHeaders,
    express.static(roots.console, {
      index: 'index.html',
      setHeaders: (res, path) =>
        // Vite puts content hashes in asset names, so those can be cached for good; index.html never.
        res.setHeader('Cache-Control', path.includes(`${'/assets/'}`) ? 'public, max-age=31536000, immutable' : 'no-cache'),
    }),
    (req, res, next) => {
      const index = join(roots.console, 'index.html');
      // SPA fallback: deep links like /console/c/123 load the app; missing assets stay 404.
      if (req.method !== 'GET' || req.path.includes('.') || !existsSync(index)) return next();
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index);
    },
  );

  router.use(
    '/demo',
    pageSecurityHeaders,
    express.static(roots.demo, { index: 'index.html', setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') }),
  );
  return router;
}

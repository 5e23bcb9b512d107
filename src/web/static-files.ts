import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

interface StaticFile {
  body: Buffer;
  contentType: string;
}

const FILES: Record<string, { name: string; contentType: string }> = {
  '/': { name: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/app.js': { name: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  '/app.css': { name: 'app.css', contentType: 'text/css; charset=utf-8' },
};

/** The page loads only its own script and stylesheet and talks only to this server. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves the chat page at `/`. The files are read once at startup from this folder, which the
 * package ships, so the page works without a build step.
 */
export function createWebPageHandler(): (request: IncomingMessage, response: ServerResponse) => boolean {
  const files = new Map<string, StaticFile>();
  for (const [path, file] of Object.entries(FILES)) {
    files.set(path, { body: readFileSync(new URL(file.name, import.meta.url)), contentType: file.contentType });
  }

  return (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const file = files.get(path);
    if (!file) return false;

    response.writeHead(200, {
      'content-type': file.contentType,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    response.end(request.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}

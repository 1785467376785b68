import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The page's files. From src (tests, tsx) they sit next to this file; the build copies them to
 * dist/modules/dashboard/static (package.json `build`), which is what the image ships.
 */
function staticDir(): string {
  const candidates = [join(__dirname, 'static'), join(__dirname, '..', '..', '..', 'src', 'modules', 'dashboard', 'static')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`dashboard assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

const TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

// The page runs no inline code and talks to its own origin only; this holds even before (or
// without) a site-wide policy.
const CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/** Serves the live dashboard: the page at `/`, its script and style under `/dashboard/`. */
@Controller()
export class DashboardController {
  private readonly files = new Map<string, string>();

  constructor() {
    const dir = staticDir();
    // A handful of small files, read once: no per-request disk access, no path built from input.
    for (const name of ['index.html', ...Object.keys(TYPES)]) this.files.set(name, readFileSync(join(dir, name), 'utf8'));
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  @Header('Content-Security-Policy', CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  page(): string {
    return this.files.get('index.html') ?? '';
  }

  @Get('dashboard/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    const body = Object.hasOwn(TYPES, file) ? this.files.get(file) : undefined;
    if (!body) throw new NotFoundException();
    res.set({ 'Content-Type': TYPES[file], 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' }).send(body);
  }
}

import { Controller, Get, Header } from '@nestjs/common';
import { API_REFERENCE_CSS, renderApiReference } from './api-reference';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi';

/** The generated HTTP reference (HTML) and OpenAPI document; no auth, they only describe the public API. */
@Controller('api/docs')
export class DocsController {
  private readonly document = buildOpenApiDocument();
  private readonly html = renderApiReference(this.document.info.version);

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  reference(): string {
    return this.html;
  }

  @Get('reference.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=3600')
  css(): string {
    return API_REFERENCE_CSS;
  }

  @Get('openapi.json')
  openapi(): OpenApiDocument {
    return this.document;
  }
}

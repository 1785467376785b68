import { Controller, Get } from '@nestjs/common';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi';

/** Serves the generated OpenAPI document; no auth, it only describes the public API. */
@Controller('api/docs')
export class DocsController {
  private readonly document = buildOpenApiDocument();

  @Get('openapi.json')
  openapi(): OpenApiDocument {
    return this.document;
  }
}

import { Injectable } from '@nestjs/common';

/** Process-wide lifecycle flags read by readiness and the gateway. */
@Injectable()
export class Lifecycle {
  draining = false;
}

import { Module } from '@nestjs/common';
import { ConsulRegistration } from '../../infra/consul/consul-registration';
import { HealthChecks } from '../../infra/health/health-checks';
import { ManagementServer } from '../../infra/health/management-server';
import { DocsController } from '../../docs/docs.controller';
import { HealthController } from './health.controller';

@Module({
  controllers: [HealthController, DocsController],
  providers: [HealthChecks, ManagementServer, ConsulRegistration],
  exports: [HealthChecks, ConsulRegistration, ManagementServer],
})
export class HealthModule {}

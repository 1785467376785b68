import { Module } from '@nestjs/common';
import { ConsulRegistration } from '../../infra/consul/consul-registration';
import { HealthChecks } from '../../infra/health/health-checks';
import { ManagementServer } from '../../infra/health/management-server';
import { HealthController } from './health.controller';

@Module({
  controllers: [HealthController],
  providers: [HealthChecks, ManagementServer, ConsulRegistration],
  exports: [HealthChecks, ConsulRegistration, ManagementServer],
})
export class HealthModule {}

import { Module } from '@nestjs/common';
import { ProjectsModule } from '../projects/projects.module';
import { DashboardController } from './dashboard.controller';
import { DashboardGateway } from './dashboard.gateway';
import { DashboardRefresher } from './dashboard-refresher.service';
import { DashboardService } from './dashboard.service';

/** The live dashboard: the page at `/` and the read-only Socket.IO namespace `/dashboard`. */
@Module({
  imports: [ProjectsModule],
  controllers: [DashboardController],
  providers: [DashboardService, DashboardRefresher, DashboardGateway],
})
export class DashboardModule {}

import { Module } from '@nestjs/common';
import { HttpAuth } from '../auth/http-auth';
import { ProjectsModule } from '../projects/projects.module';
import { BoardController, WebhooksController } from './board.controller';
import { BoardRegistry } from './board-registry';
import { BoardWorker } from './board-worker.service';
import { KanbanWritebackConsumer } from './kanban-writeback.consumer';
import { BoardSyncService } from './sync/board-sync.service';
import { BoardWritebackService } from './writeback/board-writeback.service';

/** Boards: providers, import (sync in), ordered write-back, webhooks. */
@Module({
  imports: [ProjectsModule],
  controllers: [BoardController, WebhooksController],
  providers: [HttpAuth, BoardRegistry, BoardSyncService, BoardWritebackService, BoardWorker, KanbanWritebackConsumer],
  exports: [KanbanWritebackConsumer, BoardRegistry, BoardSyncService, BoardWritebackService],
})
export class KanbanModule {}

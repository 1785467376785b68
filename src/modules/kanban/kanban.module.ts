import { Module } from '@nestjs/common';
import { KanbanWritebackConsumer } from './kanban-writeback.consumer';

@Module({ providers: [KanbanWritebackConsumer], exports: [KanbanWritebackConsumer] })
export class KanbanModule {}

import { Module } from '@nestjs/common';
import { AiConsumer } from './ai.consumer';
import { AiService } from './ai.service';

@Module({ providers: [AiService, AiConsumer], exports: [AiService, AiConsumer] })
export class AiModule {}

// TEMPORARY STUB (lead is replacing it): the seam main.ts codes against.
import type { FanoutServiceServer } from '../gen/api/fanout';
import type { Logger } from './logger';

export interface FanoutServer {
  implementation: FanoutServiceServer;
  close(): Promise<void>;
}

export function createFanoutServer(_options: { logger: Logger }): FanoutServer {
  throw new Error('not implemented yet');
}

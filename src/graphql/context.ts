import type { ApiKeyService } from '../auth/api-key-service.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Caller } from '../auth/caller.js';
import type { ChatService } from '../agent/chat-service.js';
import type { ToolConfirmations } from '../agent/tool-confirmations.js';
import type { ConversationService } from '../conversations/conversation-service.js';
import type { ToolAuditService } from '../conversations/tool-audit.js';
import type { UserDataService } from '../conversations/user-data-service.js';
import type { EntityManager } from '../db/orm.js';
import type { HomeContextProvider } from '../home-assistant/home-context-provider.js';
import type { Database } from '../db/orm.js';
import type { Logger } from '../observability/logger.js';
import type { TokenBudget } from '../security/token-budget.js';
import type { Loaders } from './loaders.js';

/** The domain services the resolvers call. Resolvers hold no logic of their own beyond mapping. */
export interface Services {
  db: Database;
  chat: ChatService;
  conversations: ConversationService;
  home: HomeContextProvider;
  confirmations: ToolConfirmations;
  apiKeys: ApiKeyService;
  authenticator: Authenticator;
  budget: TokenBudget;
  userData: UserDataService;
  audit: ToolAuditService;
}

export interface GraphQLContext {
  requestId: string;
  caller: Caller;
  /** True when the transport already counted the operation against the caller's limit, before parsing. */
  operationCounted?: boolean;
  /** Forked per HTTP request and per subscription, so identity maps never leak between them. */
  em: EntityManager;
  services: Services;
  loaders: Loaders;
  logger: Logger;
}

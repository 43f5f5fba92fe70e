import type { NetworkPolicy } from '@bx/core';
import { Agent as HttpAgent, type AgentOptions } from 'node:http';

type AgentFactory = (options: AgentOptions & { protocol?: string }) => HttpAgent;

/**
 * The HTTP(S) agents of one Snowflake session, held to the network policy
 * (ALLOWED_PRIVATE_DESTINATIONS) on every connection, redirects included.
 * snowflake-sdk 3.3 takes them through its `agentClass` connection option:
 * for each request it calls it with that request's agent options and uses
 * the agent when its protocol matches (lib/http/base.js and
 * lib/http/node_untyped.js `getProxyAgent`; the SDK calls the option a test
 * hook, so an SDK upgrade must keep test/integration/destination-network.test.ts
 * green). HTTPS goes through the SDK's own OCSP-checking agent, as without
 * the option. Files a real Snowflake has the SDK PUT to its cloud storage go
 * to the storage URLs Snowflake names, through the storage SDKs: not here.
 */
export class SessionAgents {
  private readonly agents = new Map<string, HttpAgent>();

  constructor(private readonly network: NetworkPolicy) {}

  /** The `agentClass` option: one guarded agent per protocol, for the session's life. */
  readonly agentClass: AgentFactory = (options) => {
    const protocol = options.protocol === 'https:' ? 'https:' : 'http:';
    let agent = this.agents.get(protocol);
    if (!agent) {
      agent = protocol === 'https:' ? newOcspAgent(options) : new HttpAgent(options);
      this.agents.set(protocol, this.network.guardAgent(agent));
    }
    return agent;
  };

  destroy(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

function newOcspAgent(options: AgentOptions): HttpAgent {
  const HttpsOcspAgent = require('snowflake-sdk/dist/lib/agent/https_ocsp_agent') as new (
    options: AgentOptions,
  ) => HttpAgent;
  return new HttpsOcspAgent(options);
}
